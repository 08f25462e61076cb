//! `rollcall bench backfill`: the full demo season, all four processors,
//! measured side by side in one run — pure computation (the floor: no storage)
//! and the real engine on a fresh embedded store — written as a table into
//! docs/benchmarks.md between markers.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use domain::pipeline::Pipeline;
use domain::processors::{self, SeasonIndex, UpstreamSet};
use domain::ProcessorId;
use engine::backfill::{backfill, BackfillRequest, DateSpec, JobSummary, RunOptions};
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

use crate::error::{Result, ServerError};

mod adopt;
mod load;
mod snapshot;
mod watch;

pub use adopt::adopt_bench;
pub use load::{load_bench, LoadOptions};
pub use snapshot::snapshot_bench;
pub use watch::watch_bench;

pub struct Row {
    pub what: String,
    pub seconds: f64,
    pub player_dates: i64,
}

/// The NBA demo's pipeline, which every benchmark but the heatmap's scale runs.
fn demo_pipeline() -> Arc<Pipeline> {
    Arc::new(domain::pipeline::nba())
}

pub async fn backfill_bench(output: &Path) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    let nba = demo_pipeline();

    // Floor: the processors alone, in memory.
    let t = Instant::now();
    let index = SeasonIndex::new(season.games.clone(), &season.schedule);
    let dates: Vec<_> = index.dates().collect();
    let mut player_dates = 0i64;
    for d in &dates {
        let mut up = UpstreamSet::default();
        for b in domain::Builtin::ALL {
            let out = processors::run(&nba, b, *d, &index, &up);
            player_dates += out.expected as i64;
            up.absorb(&out);
        }
    }
    rows.push(Row {
        what: "processors only (in memory, no storage)".into(),
        seconds: t.elapsed().as_secs_f64(),
        player_dates,
    });

    // Three runs on fresh stores; the median is reported (the machine is noisy).
    const RUNS: usize = 3;
    let mut loads = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().map_err(ServerError::io("temp dir"))?;
        let wh = EmbeddedWarehouse::open(&dir.path().join("bench.duckdb"), demo_pipeline())?;
        let t = Instant::now();
        let load = wh
            .load_upstream_rows(season.schedule.clone(), season.games.clone())
            .await?;
        loads.push((t.elapsed().as_secs_f64(), load.game_rows));
        let t = Instant::now();
        let summary = full_season_backfill(&wh).await?;
        runs.push((t.elapsed().as_secs_f64(), summary));
    }
    loads.sort_by(|a, b| a.0.total_cmp(&b.0));
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (load_s, game_rows) = loads[RUNS / 2];
    rows.push(Row {
        what: format!("load the season's upstream rows ({game_rows} box scores), median of {RUNS}"),
        seconds: load_s,
        player_dates: 0,
    });
    let (run_s, summary) = &runs[RUNS / 2];
    rows.push(Row {
        what: format!(
            "full-season backfill, 4 processors, embedded store ({} cells), median of {RUNS} (min {:.2} s, max {:.2} s)",
            summary.progress.cells_done,
            runs[0].0,
            runs[RUNS - 1].0
        ),
        seconds: *run_s,
        player_dates: summary.progress.players_done,
    });
    write_section(output, "backfill", &render(&rows))?;
    Ok(rows)
}

/// Reconciliation of one season and of ten seasons, each next to the same SQL
/// run directly on DuckDB (the floor). Median of several runs.
pub async fn reconcile_bench(output: &Path) -> Result<Vec<Row>> {
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    let all: Vec<ProcessorId> = demo_pipeline().ids().collect();
    let dir = tempfile::tempdir().map_err(ServerError::io("temp dir"))?;
    let wh = EmbeddedWarehouse::open(&dir.path().join("bench.duckdb"), demo_pipeline())?;
    wh.load_upstream_rows(season.schedule, season.games).await?;
    full_season_backfill(&wh).await?;
    let one = domain::DateRange::new(
        domain::demo::season_start(),
        domain::demo::season_end(),
        400,
    )?;
    let mut rows = Vec::new();
    measure_pair(&wh, one, &all, "1 season", &mut rows).await?;
    copy_season_back(&wh, 9)?;
    let ten = domain::DateRange::new(
        domain::demo::season_start() - chrono::Duration::days(9 * 366),
        domain::demo::season_end(),
        4000,
    )?;
    measure_pair(&wh, ten, &all, "10 seasons", &mut rows).await?;
    write_section(output, "reconcile", &render_ms(&rows))?;
    Ok(rows)
}

/// BigQuery (through the emulator at `config.base_url`, behind a counting
/// proxy) next to the embedded store, in one run: the season's upstream load,
/// a full-season backfill of the four processors and a season's
/// reconciliation. The job counts are the requests that start a BigQuery
/// job (queries, scripts, load uploads), counted by the proxy.
pub async fn bigquery_bench(
    output: &Path,
    mut config: warehouse_bigquery::BigQueryConfig,
) -> Result<Vec<Row>> {
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    let upstream_url = config.base_url.clone().ok_or_else(|| {
        ServerError::Input("bench bigquery needs --bigquery-url (the emulator)".into())
    })?;
    let proxy = crate::faultproxy::FaultProxy::start(&upstream_url).await?;
    config.base_url = Some(proxy.base_url.clone());
    let embedded = EmbeddedWarehouse::in_memory(demo_pipeline())?;
    let bigquery = warehouse_bigquery::BigQueryWarehouse::open(config, demo_pipeline()).await?;
    let stores: [(&str, &dyn Warehouse); 2] =
        [("embedded", &embedded), ("BigQuery emulator", &bigquery)];
    let range = domain::DateRange::new(
        domain::demo::season_start(),
        domain::demo::season_end(),
        400,
    )?;
    let all: Vec<ProcessorId> = demo_pipeline().ids().collect();
    let mut rows = Vec::new();
    let jobs_label = |name: &str, before: usize| {
        if name == "embedded" {
            String::new()
        } else {
            format!(", {} BigQuery jobs", proxy.counts.jobs() - before)
        }
    };
    for (name, wh) in stores {
        let before = proxy.counts.jobs();
        let t = Instant::now();
        let load = wh
            .load_upstream_rows(season.schedule.clone(), season.games.clone())
            .await?;
        rows.push(Row {
            what: format!(
                "{name}: load the season's upstream ({} box scores{})",
                load.game_rows,
                jobs_label(name, before)
            ),
            seconds: t.elapsed().as_secs_f64(),
            player_dates: load.game_rows as i64,
        });
        let before = proxy.counts.jobs();
        let t = Instant::now();
        let request = BackfillRequest {
            processors: all.clone(),
            dates: DateSpec::Range {
                start: range.start(),
                end: range.end(),
            },
            only_gaps: false,
            legacy: false,
            stop_on: Default::default(),
        };
        let options = RunOptions {
            resume: false,
            ..RunOptions::default()
        };
        let summary = backfill(wh, &request, &options, &(), &AtomicBool::new(false)).await?;
        rows.push(Row {
            what: format!(
                "{name}: full-season backfill, 4 processors ({} cells{})",
                summary.progress.cells_done,
                jobs_label(name, before)
            ),
            seconds: t.elapsed().as_secs_f64(),
            player_dates: summary.progress.players_done,
        });
        let mut times = Vec::new();
        let mut cells = 0;
        for _ in 0..5 {
            let t = Instant::now();
            cells = wh.cell_counts(range, &all).await?.len();
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(|a, b| a.total_cmp(b));
        rows.push(Row {
            what: format!("{name}: reconcile the season ({cells} cells), median of 5"),
            seconds: times[times.len() / 2],
            player_dates: 0,
        });
    }
    rows.push(Row {
        what: "before batching (per-cell writes, measured 2026-11-30 on the same emulator): \
               10 days × 4 processors = 40 cells in 47.5 s, ~5 jobs per cell \
               (98 per 20 cells) → a season ≈ 3 250 jobs, ≈ 13 min"
            .into(),
        seconds: 47.54,
        player_dates: 9724,
    });
    write_section(output, "bigquery", &render(&rows))?;
    Ok(rows)
}

/// Runs per side of a reconciliation pair; the median is reported (the
/// machine is shared and noisy, so more runs than seem necessary).
pub(crate) const RECONCILE_RUNS: usize = 15;

async fn measure_pair(
    wh: &EmbeddedWarehouse,
    range: domain::DateRange,
    all: &[ProcessorId],
    label: &str,
    rows: &mut Vec<Row>,
) -> Result<()> {
    // Interleaved, so both sides see the same background noise.
    let (mut trait_times, mut raw_times) = (Vec::new(), Vec::new());
    let mut cells = 0;
    for _ in 0..RECONCILE_RUNS {
        let t = Instant::now();
        cells = wh.cell_counts(range, all).await?.len();
        trait_times.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        wh.raw_reconcile_for_bench(range)?;
        raw_times.push(t.elapsed().as_secs_f64());
    }
    // The median, with the spread in the label: the machine is shared.
    let summary = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        let spread = format!("min {:.1}, max {:.1} ms", v[0] * 1e3, v[v.len() - 1] * 1e3);
        (v[v.len() / 2], spread)
    };
    let (trait_median, trait_spread) = summary(&mut trait_times);
    let (raw_median, raw_spread) = summary(&mut raw_times);
    rows.push(Row {
        what: format!(
            "reconcile {label} ({cells} cells) through the Warehouse trait ({trait_spread})"
        ),
        seconds: trait_median,
        player_dates: cells as i64,
    });
    rows.push(Row {
        what: format!("same SQL run directly on DuckDB ({label}, floor; {raw_spread})"),
        seconds: raw_median,
        player_dates: cells as i64,
    });
    Ok(())
}

/// Latency table: milliseconds, and the ratio to the floor row that follows.
pub fn render_ms(rows: &[Row]) -> String {
    let mut s = format!(
        "| measurement | median ms ({RECONCILE_RUNS} runs) | vs floor |\n|---|---:|---:|\n"
    );
    for pair in rows.chunks(2) {
        let floor = pair.get(1).map(|r| r.seconds).unwrap_or(f64::NAN);
        for r in pair {
            s.push_str(&format!(
                "| {} | {:.1} | {:.2}× |\n",
                r.what,
                r.seconds * 1000.0,
                r.seconds / floor
            ));
        }
    }
    s
}

/// `years` earlier copies of the demo season (every processor's table, the
/// universe, failures and runs), shifted by whole years: many seasons at the
/// cost of one backfill.
fn copy_season_back(wh: &EmbeddedWarehouse, years: i32) -> Result<()> {
    let mut sql = String::new();
    for k in 1..=years {
        for spec in &wh.pipeline().processors {
            sql += &format!(
                "INSERT INTO {t} SELECT * REPLACE ({c} - INTERVAL {k} YEAR AS {c}) FROM {t}
                 WHERE {c} >= DATE '2021-10-01';\n",
                t = spec.output_table,
                c = spec.date_column
            );
        }
        sql += &format!(
            "INSERT INTO nba_analytics.player_game_summary SELECT * REPLACE (game_date - INTERVAL {k} YEAR AS game_date, season_year - {k} AS season_year)
               FROM nba_analytics.player_game_summary WHERE game_date >= DATE '2021-10-01';
             INSERT INTO nba_processing.precompute_failures SELECT * REPLACE (analysis_date - INTERVAL {k} YEAR AS analysis_date)
               FROM nba_processing.precompute_failures WHERE analysis_date >= DATE '2021-10-01';
             INSERT INTO nba_processing.precompute_processor_runs SELECT * REPLACE (analysis_date - INTERVAL {k} YEAR AS analysis_date)
               FROM nba_processing.precompute_processor_runs WHERE analysis_date >= DATE '2021-10-01';\n"
        );
    }
    Ok(wh.execute_batch_for_tests(&sql)?)
}

/// The store behind the heatmap's scale measurement (`make bench`, with a
/// generated pipeline): five seasons of the demo and every processor of the
/// active pipeline filled. The builtins run over one season, copied back
/// four years; each observed table gets every expected player of every date
/// but about 5 % (a hash of player and processor), so its cells are mostly
/// complete with gaps to draw. Returns a one-line summary.
pub async fn scale_data(db: &Path, pipeline: Arc<Pipeline>) -> Result<String> {
    if db.exists() {
        // Filling twice would copy the copies.
        return Err(ServerError::Input(format!(
            "{} exists: scale-data fills a new store",
            db.display()
        )));
    }
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    let wh = EmbeddedWarehouse::open(db, Arc::clone(&pipeline))?;
    wh.load_upstream_rows(season.schedule, season.games).await?;
    full_season_backfill(&wh).await?;
    let mut sql = String::new();
    for spec in &pipeline.processors {
        if !spec.runner.writes_table() {
            sql += &format!(
                "INSERT INTO {t} ({e}, {c})
                 SELECT DISTINCT player_lookup, game_date FROM nba_analytics.player_game_summary
                 WHERE ({expected}) AND hash(player_lookup || '{code}') % 20 <> 0;\n",
                t = spec.output_table,
                e = spec.entity_column,
                c = spec.date_column,
                expected = pipeline.universe.expected,
                code = spec.code,
            );
        }
    }
    wh.execute_batch_for_tests(&sql)?;
    copy_season_back(&wh, 4)?;
    Ok(format!(
        "{}: 5 seasons, {} processors ({} observed)",
        db.display(),
        pipeline.processors.len(),
        pipeline
            .processors
            .iter()
            .filter(|s| !s.runner.writes_table())
            .count()
    ))
}

/// The pipeline's builtin processors over the whole demo season, with
/// failure tracking (observed and command processors are left alone).
async fn full_season_backfill(wh: &EmbeddedWarehouse) -> Result<JobSummary> {
    let request = BackfillRequest {
        processors: wh
            .pipeline()
            .processors
            .iter()
            .filter(|s| s.runner.builtin().is_some())
            .map(|s| s.id)
            .collect(),
        dates: DateSpec::Range {
            start: domain::demo::season_start(),
            end: domain::demo::season_end(),
        },
        only_gaps: false,
        legacy: false,
        stop_on: Default::default(),
    };
    let options = RunOptions {
        resume: false,
        ..RunOptions::default()
    };
    Ok(backfill(wh, &request, &options, &(), &AtomicBool::new(false)).await?)
}

pub fn render(rows: &[Row]) -> String {
    let mut s = String::from(
        "| measurement | seconds | player-dates | player-dates / s |\n|---|---:|---:|---:|\n",
    );
    for r in rows {
        let rate = if r.player_dates > 0 && r.seconds > 0.0 {
            format!("{:.0}", r.player_dates as f64 / r.seconds)
        } else {
            "–".into()
        };
        s.push_str(&format!(
            "| {} | {:.2} | {} | {} |\n",
            r.what,
            r.seconds,
            if r.player_dates > 0 {
                r.player_dates.to_string()
            } else {
                "–".into()
            },
            rate
        ));
    }
    s
}

/// Replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`
/// (appending the section if it is missing), leaving the rest of the file alone.
pub fn write_section(path: &Path, name: &str, body: &str) -> Result<()> {
    let open = format!("<!-- bench:{name} -->");
    let close = format!("<!-- /bench:{name} -->");
    let existing = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let stamp = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let block = format!("{open}\n_Measured {stamp} by `rollcall bench {name}`._\n\n{body}{close}");
    let updated = match (existing.find(&open), existing.find(&close)) {
        (Some(a), Some(b)) if b > a => {
            format!(
                "{}{}{}",
                &existing[..a],
                block,
                &existing[b + close.len()..]
            )
        }
        _ => format!("{}\n{}\n", existing.trim_end(), block),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, updated)
        .map_err(ServerError::io(format!("cannot write {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("b.md");
        std::fs::write(&f, "# Benchmarks\n\nintro\n").unwrap();
        write_section(&f, "x", "first\n").unwrap();
        write_section(&f, "y", "other\n").unwrap();
        write_section(&f, "x", "second\n").unwrap();
        let s = std::fs::read_to_string(&f).unwrap();
        assert!(s.contains("intro"));
        assert!(s.contains("second") && !s.contains("first"));
        assert!(s.contains("other"));
        assert_eq!(s.matches("<!-- bench:x -->").count(), 1);
    }
}
