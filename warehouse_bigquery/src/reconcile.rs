//! Reconciliation and drill-down SQL in BigQuery's dialect: the same bit-mask
//! accounting as the embedded store (one grouping per (date, player), then the
//! few distinct masks per date), with the static tables — processor
//! spellings, the selected processors, the category aliases — bound as
//! `ARRAY<STRUCT>` parameters (`@procs`, `@sel`, `@cats`).

use domain::failure::CATEGORIES;
use domain::report::{CellCounts, LastRun};
use domain::PROCESSORS;
use serde_json::Value;
use warehouse::Result;

use crate::client;
use crate::schema::{self, Names};

const REC: u32 = 1;
const FAIL: u32 = 1 + PROCESSORS.len() as u32;
const INVESTIGATE: u32 = 1 + 2 * PROCESSORS.len() as u32;
const EXPECTED_PLAYER: &str = "is_active AND (minutes_played > 0 OR fg_attempts > 0)";

fn failure_ctes(n: &Names) -> String {
    format!(
        "proc_names AS (SELECT p.raw, p.code, p.bit FROM UNNEST(@procs) AS p),
         cats AS (SELECT c.raw, c.code, c.expected FROM UNNEST(@cats) AS c),
         sel AS (SELECT s.code, s.bit, s.deps FROM UNNEST(@sel) AS s),
         fails AS (
             SELECT pn.code, pn.bit, f.analysis_date AS d, f.entity_id,
                    COALESCE(c.code, 'UNKNOWN') AS category,
                    COALESCE(c.expected, FALSE) AS is_expected
             FROM {failures} AS f
             JOIN proc_names AS pn ON pn.raw = UPPER(f.processor_name)
             LEFT JOIN cats AS c
               ON c.raw = UPPER(REPLACE(REPLACE(TRIM(COALESCE(f.failure_category, '')), '-', '_'), ' ', '_'))
             WHERE f.analysis_date BETWEEN @start AND @end
         )",
        failures = n.of(&schema::FAILURES),
    )
}

/// Columns: code, date, expected, has_record, has_failure, date_level,
/// unaccounted, investigate, runs, conflict, extra, cascade, last run id,
/// status, started (micros), then one count per `CATEGORIES` entry.
pub(crate) fn cells_sql(n: &Names) -> String {
    let all_bits = (1u32 << PROCESSORS.len()) - 1;
    let record_marks = PROCESSORS
        .iter()
        .map(|s| {
            format!(
                "SELECT {c} AS d, player_lookup AS p, {m} AS m FROM {t} WHERE {c} BETWEEN @start AND @end",
                c = s.date_column,
                t = n.of(schema::output_table(s.id)),
                m = 1u32 << (REC + s.id.order() as u32),
            )
        })
        .collect::<Vec<_>>()
        .join("\n UNION ALL ");
    let category_counts = CATEGORIES
        .iter()
        .enumerate()
        .map(|(i, c)| format!("COUNTIF(category = '{}') AS n{i}", c.code))
        .collect::<Vec<_>>()
        .join(", ");
    let category_columns = (0..CATEGORIES.len())
        .map(|i| format!("COALESCE(fc.n{i}, 0)"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH {failure_ctes},
         marks AS (
             SELECT game_date AS d, player_lookup AS p, 1 AS m
             FROM {pgs}
             WHERE game_date BETWEEN @start AND @end AND {EXPECTED_PLAYER}
             UNION ALL {record_marks}
             UNION ALL SELECT d, entity_id AS p,
                              (bit << {FAIL}) | IF(is_expected, 0, bit << {INVESTIGATE}) AS m
             FROM fails WHERE entity_id <> @date_level
         ),
         per_player AS (SELECT d, BIT_OR(m) AS m FROM marks GROUP BY d, p),
         mask_counts AS (
             SELECT d, (m & 1) AS e, ((m >> {REC}) & {all_bits}) AS r, ((m >> {FAIL}) & {all_bits}) AS f,
                    ((m >> {INVESTIGATE}) & {all_bits}) AS fi, COUNT(*) AS n
             FROM per_player GROUP BY d, m
         ),
         cells AS (
             SELECT s.code, mc.d,
                    SUM(IF(e = 1, n, 0)) AS expected,
                    SUM(IF(e = 1 AND (r & s.bit) <> 0, n, 0)) AS has_record,
                    SUM(IF(e = 1 AND (r & s.bit) = 0 AND (f & s.bit) <> 0, n, 0)) AS has_failure,
                    SUM(IF(e = 1 AND (r & s.bit) = 0 AND (f & s.bit) = 0, n, 0)) AS unaccounted,
                    SUM(IF(e = 1 AND (r & s.bit) = 0 AND (fi & s.bit) <> 0, n, 0)) AS investigate,
                    SUM(IF((r & s.bit) <> 0 AND (f & s.bit) <> 0, n, 0)) AS conflict,
                    SUM(IF(e = 0 AND (r & s.bit) <> 0, n, 0)) AS extra,
                    SUM(IF((r & s.bit) <> 0 AND (r & s.deps) <> s.deps, n, 0)) AS cascade
             FROM mask_counts AS mc CROSS JOIN sel AS s
             GROUP BY s.code, mc.d
             HAVING SUM(IF(e = 1, n, 0)) > 0
         ),
         fail_cells AS (
             SELECT code, d, LOGICAL_OR(entity_id = @date_level) AS date_level, {category_counts}
             FROM fails GROUP BY code, d
         ),
         runs AS (
             SELECT pn.code, r.analysis_date AS d, r.run_id, r.status, r.started_at,
                    COUNT(*) OVER (PARTITION BY pn.code, r.analysis_date) AS n
             FROM {runs} AS r
             JOIN proc_names AS pn ON pn.raw = UPPER(r.processor_name)
             WHERE r.analysis_date BETWEEN @start AND @end
             QUALIFY ROW_NUMBER() OVER (PARTITION BY pn.code, r.analysis_date ORDER BY r.started_at DESC, r.run_id DESC) = 1
         )
         SELECT c.code, c.d, c.expected, c.has_record, c.has_failure, COALESCE(fc.date_level, FALSE),
                IF(COALESCE(fc.date_level, FALSE), 0, c.unaccounted),
                c.investigate, COALESCE(ru.n, 0), c.conflict, c.extra, c.cascade,
                ru.run_id, ru.status, UNIX_MICROS(ru.started_at), {category_columns}
         FROM cells AS c
         LEFT JOIN fail_cells AS fc ON fc.code = c.code AND fc.d = c.d
         LEFT JOIN runs AS ru ON ru.code = c.code AND ru.d = c.d",
        failure_ctes = failure_ctes(n),
        pgs = n.of(&schema::PLAYER_GAMES),
        runs = n.of(&schema::RUNS),
    )
}

pub(crate) fn cell_from_row(r: &[Value]) -> Result<CellCounts> {
    let int = |i: usize| r.get(i).and_then(client::i).unwrap_or(0);
    let code = r.first().and_then(client::s).unwrap_or_default();
    let mut failures_by_category = std::collections::BTreeMap::new();
    for (i, c) in CATEGORIES.iter().enumerate() {
        let n = int(15 + i);
        if n > 0 {
            failures_by_category.insert(c.code.to_string(), n);
        }
    }
    Ok(CellCounts {
        processor: crate::parse_processor(&code)?,
        date: r
            .get(1)
            .and_then(client::d)
            .ok_or_else(|| client::missing("cell date"))?,
        expected: int(2),
        has_record: int(3),
        has_failure: int(4),
        date_level: r.get(5).and_then(client::b).unwrap_or(false),
        unaccounted: int(6),
        investigate: int(7),
        runs: int(8),
        conflict: int(9),
        extra: int(10),
        cascade: int(11),
        failures_by_category,
        last_run: r.get(12).and_then(client::s).map(|run_id| LastRun {
            run_id,
            status: r.get(13).and_then(client::s).unwrap_or_default(),
            started_at: r.get(14).and_then(client::ts),
        }),
    })
}

/// Columns: code, date, player — expected players with neither a record nor
/// a failure (player-level or date-level) in the selected cells.
pub(crate) fn unaccounted_sql(n: &Names) -> String {
    let records = PROCESSORS
        .iter()
        .map(|s| {
            format!(
                "SELECT '{code}' AS code, {c} AS d, player_lookup AS p FROM {t} WHERE {c} BETWEEN @start AND @end",
                code = s.code,
                c = s.date_column,
                t = n.of(schema::output_table(s.id)),
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    format!(
        "WITH {failure_ctes},
         expected AS (
             SELECT DISTINCT game_date AS d, player_lookup AS p FROM {pgs}
             WHERE game_date BETWEEN @start AND @end AND {EXPECTED_PLAYER}
         ),
         recs AS (SELECT DISTINCT code, d, p FROM ({records})),
         player_fails AS (SELECT DISTINCT code, d, entity_id FROM fails WHERE entity_id <> @date_level),
         date_fails AS (SELECT DISTINCT code, d FROM fails WHERE entity_id = @date_level)
         SELECT s.code, e.d, e.p
         FROM sel AS s CROSS JOIN expected AS e
         LEFT JOIN recs AS r ON r.code = s.code AND r.d = e.d AND r.p = e.p
         LEFT JOIN player_fails AS pf ON pf.code = s.code AND pf.d = e.d AND pf.entity_id = e.p
         LEFT JOIN date_fails AS df ON df.code = s.code AND df.d = e.d
         WHERE r.p IS NULL AND pf.entity_id IS NULL AND df.d IS NULL
         ORDER BY e.d, s.code, e.p",
        failure_ctes = failure_ctes(n),
        pgs = n.of(&schema::PLAYER_GAMES),
    )
}

/// Columns: entity, raw category, category, reason, can_retry, upstream
/// processor, upstream category, run id, total.
pub(crate) fn failure_rows_sql(n: &Names) -> String {
    format!(
        "WITH cats AS (SELECT c.raw, c.code, c.expected FROM UNNEST(@cats) AS c),
         matching AS (
             SELECT f.entity_id, COALESCE(f.failure_category, '') AS raw_category,
                    COALESCE(c.code, 'UNKNOWN') AS category, COALESCE(f.failure_reason, '') AS reason,
                    COALESCE(f.can_retry, FALSE) AS can_retry, f.upstream_processor,
                    f.upstream_category, f.run_id
             FROM {failures} AS f
             LEFT JOIN cats AS c
               ON c.raw = UPPER(REPLACE(REPLACE(TRIM(COALESCE(f.failure_category, '')), '-', '_'), ' ', '_'))
             WHERE f.analysis_date = @date AND UPPER(f.processor_name) IN (UPPER(@code), UPPER(@name))
               AND (@category IS NULL OR COALESCE(c.code, 'UNKNOWN') = @category)
               AND (@search IS NULL OR STRPOS(LOWER(f.entity_id), LOWER(@search)) > 0)
         )
         SELECT entity_id, raw_category, category, reason, can_retry, upstream_processor,
                upstream_category, run_id, COUNT(*) OVER () AS total
         FROM matching
         ORDER BY category, entity_id
         LIMIT @lim OFFSET @off",
        failures = n.of(&schema::FAILURES),
    )
}
