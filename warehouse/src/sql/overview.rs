//! The overview's queries: game dates, table counts, expected entities.

use super::*;

/// Per date of the range with universe rows: games (the NBA box scores'
/// distinct games; another universe counts its rows), universe rows,
/// expected entities.
pub fn game_dates(d: &Dialect, range: DateRange) -> Query {
    let u = d.universe();
    let who_is_expected = expected_condition(u);
    let mut b = Builder::new(d);
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let games = if u.is_nba() {
        "COUNT(DISTINCT game_id)"
    } else {
        "COUNT(*)"
    };
    let sql = format!(
        "SELECT {ud} AS rc_date, {games} AS rc_games, COUNT(*) AS rc_rows,
                COUNT(DISTINCT CASE WHEN {who_is_expected} THEN {ue} END) AS rc_expected
         FROM {pgs} WHERE {ud} BETWEEN {start} AND {end}
         GROUP BY {ud} ORDER BY rc_date",
        pgs = d.table(&u.table),
        ud = u.date_column,
        ue = u.entity_column,
    );
    b.finish(sql)
}

/// The tables the overview counts, each once, with the date column each is
/// filtered on: the universe (with the NBA schedule), every processor's
/// table, the failures and the runs.
pub fn counted_tables(p: &Pipeline) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    if p.universe.is_nba() {
        out.push((SCHEDULE, "game_date"));
    }
    out.push((&p.universe.table, &p.universe.date_column));
    out.extend(
        p.processors
            .iter()
            .map(|s| (s.output_table.as_str(), s.date_column.as_str())),
    );
    out.extend([
        (p.failures_table.as_str(), "analysis_date"),
        (p.runs_table.as_str(), "analysis_date"),
    ]);
    // The team's own tables, read beside them.
    out.extend(
        p.read
            .failures
            .iter()
            .map(|f| (f.table.as_str(), f.date.as_str())),
    );
    out.extend(
        p.read
            .runs
            .iter()
            .map(|r| (r.table.as_str(), r.date.as_str())),
    );
    let mut seen = std::collections::HashSet::new();
    out.retain(|(t, _)| seen.insert(*t));
    out
}

/// The rows of each [`counted_tables`] table within the range. Columns:
/// the table's position in that list, its rows.
pub fn table_counts(d: &Dialect, range: DateRange) -> Query {
    let mut b = Builder::new(d);
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let sql = counted_tables(d.pipeline())
        .iter()
        .enumerate()
        .map(|(i, (t, c))| {
            // A team's date column may be a timestamp; ours are dates (a
            // plain filter keeps BigQuery's partition pruning).
            let read = [
                d.pipeline().read.failures.as_ref().map(|f| &f.table),
                d.pipeline().read.runs.as_ref().map(|r| &r.table),
            ];
            let day = if read.into_iter().flatten().any(|r| r == t) {
                format!("CAST({c} AS DATE)")
            } else {
                c.to_string()
            };
            format!(
                "SELECT {i} AS k, COUNT(*) AS n FROM {} WHERE {day} BETWEEN {start} AND {end}",
                d.table(t)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    b.finish(sql)
}

/// [`table_counts`]' rows as counts in [`counted_tables`] order.
pub fn table_counts_of(p: &Pipeline, rows: &[(i64, i64)]) -> Vec<crate::TableCount> {
    counted_tables(p)
        .iter()
        .enumerate()
        .map(|(i, (t, _))| crate::TableCount {
            table: (*t).to_string(),
            rows: rows
                .iter()
                .find(|(k, _)| *k == i as i64)
                .map_or(0, |(_, n)| *n),
        })
        .collect()
}

/// One row of [`table_counts`].
pub fn table_count_row(r: &mut dyn SqlRow) -> Result<(i64, i64)> {
    Ok((r.int("k")?.unwrap_or(-1), r.int("n")?.unwrap_or(0)))
}

/// The expected entities per date of the range, each once, by date then
/// entity (what a command reads on stdin). Columns: `rc_date`, `rc_entity`.
pub fn expected_entities(d: &Dialect, range: DateRange) -> Query {
    let u = d.universe();
    let who_is_expected = expected_condition(u);
    let mut b = Builder::new(d);
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let sql = format!(
        "SELECT DISTINCT {ud} AS rc_date, {ue} AS rc_entity FROM {pgs}
         WHERE {ud} BETWEEN {start} AND {end} AND {who_is_expected}
         ORDER BY rc_date, rc_entity",
        pgs = d.table(&u.table),
        ud = u.date_column,
        ue = u.entity_column,
    );
    b.finish(sql)
}

/// Column `n` (0 or 1): the pipeline's `expected` condition run over its
/// universe table, reading at most one row — what a typo in it (an unknown
/// column, a wrong type) fails on.
pub fn expected_probe(d: &Dialect) -> Query {
    let u = d.universe();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM {t} WHERE {who_is_expected} LIMIT 1) AS probe",
        t = d.table(&u.table),
        who_is_expected = expected_condition(u),
    );
    Builder::new(d).finish(sql)
}

/// One row of [`expected_entities`].
pub fn expected_entity_row(r: &mut dyn SqlRow) -> Result<(NaiveDate, String)> {
    Ok((
        r.required_date("rc_date", "the universe date")?,
        r.text("rc_entity")?.unwrap_or_default(),
    ))
}

pub fn game_date_row(r: &mut dyn SqlRow) -> Result<GameDateSummary> {
    Ok(GameDateSummary {
        game_date: r.required_date("rc_date", "game_date")?,
        games: r.int("rc_games")?.unwrap_or(0),
        player_rows: r.int("rc_rows")?.unwrap_or(0),
        expected_players: r.int("rc_expected")?.unwrap_or(0),
    })
}

/// Reads the failure and run rows as every read takes them (the team's
/// tables mapped beside Rollcall's own), no rows: the mapping's probe.
pub fn read_tables_probe(d: &Dialect) -> Query {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM (SELECT * FROM {} WHERE FALSE) AS f
         CROSS JOIN (SELECT * FROM {} WHERE FALSE) AS r",
        d.failures(),
        d.runs(),
    );
    Builder::new(d).finish(sql)
}

/// Reads one mapped column of a team's table (no rows).
pub fn mapped_column_probe(d: &Dialect, m: &domain::pipeline::MappedColumn<'_>) -> Query {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM (SELECT {} FROM {} WHERE FALSE) AS probe",
        m.column,
        d.table(m.table)
    );
    Builder::new(d).finish(sql)
}

/// The `filter` conditions of `[read]`, by section.
pub fn read_filters(p: &Pipeline) -> Vec<(&'static str, &str)> {
    let failures = p.read.failures.as_ref().and_then(|f| f.filter.as_deref());
    let runs = p.read.runs.as_ref().and_then(|r| r.filter.as_deref());
    [("read.failures", failures), ("read.runs", runs)]
        .into_iter()
        .filter_map(|(s, f)| Some((s, f?)))
        .collect()
}

/// Runs a section's `filter` over its table (no rows).
pub fn read_filter_probe(d: &Dialect, section: &str) -> Query {
    let p = d.pipeline();
    let (table, filter) = match section {
        "read.failures" => p.read.failures.as_ref().map(|f| (&f.table, &f.filter)),
        _ => p.read.runs.as_ref().map(|r| (&r.table, &r.filter)),
    }
    .map_or(("", "TRUE".to_string()), |(t, f)| {
        (
            t.as_str(),
            f.as_deref().map_or("TRUE".into(), |w| format!("({w})")),
        )
    });
    let sql = format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM {} WHERE {filter} AND FALSE) AS probe",
        d.table(table)
    );
    Builder::new(d).finish(sql)
}

/// A query every store answers when it can answer at all.
pub fn one_probe(d: &Dialect) -> Query {
    Builder::new(d).finish("SELECT 1 AS n".into())
}
