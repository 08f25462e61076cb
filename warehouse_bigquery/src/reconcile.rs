//! Reconciliation and drill-down SQL in BigQuery's dialect. The accounting
//! query has the embedded store's shape (per-date mask counts, failure and run
//! groups; `domain::reconcile` turns them into cells); the drill-downs bind
//! the static tables — processor spellings, the selected processors, the
//! category aliases — as `ARRAY<STRUCT>` parameters (`@procs`, `@sel`, `@cats`).

use domain::report::CellCounts;
use domain::ProcessorId;
use serde_json::Value;
use warehouse::accounting::{Accounting, AccountingRow};
use warehouse::Result;

use crate::client;
use crate::schema::{self, Names};

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
               ON c.raw = {normalised}
             WHERE f.analysis_date BETWEEN @start AND @end
         )",
        failures = n.of(&schema::FAILURES),
        normalised = domain::failure::NORMALISED_CATEGORY_SQL,
    )
}

/// The reconciliation of a range in one query, the same shape as the embedded
/// store's: kind 0 rows are (date, mask, players), kind 1 failure rows per
/// (processor bit, date, normalised category) with the date-level flag, kind 2
/// runs per (processor bit, date) with the latest run. Columns: kind, date,
/// mask or bit, count, category or run id, status, date-level, started (micros).
pub(crate) fn cells_sql(n: &Names) -> String {
    use domain::reconcile::{expected_spellings_sql, mask, processor_bit_sql};
    let record_marks = domain::reconcile::union_per_processor(|s| {
        format!(
            "SELECT {c}, player_lookup, {m} FROM {t} WHERE {c} BETWEEN @start AND @end",
            c = s.date_column,
            t = n.of(schema::output_table(s.id)),
            m = mask::record(s.id),
        )
    });
    let bit = processor_bit_sql("processor_name");
    format!(
        "WITH fails AS (
             SELECT {bit} AS bit, analysis_date AS d, entity_id, {category} AS category
             FROM {failures}
             WHERE analysis_date BETWEEN @start AND @end
         ),
         marks AS (
             SELECT game_date AS d, player_lookup AS p, {expected} AS m
             FROM {pgs}
             WHERE game_date BETWEEN @start AND @end AND {EXPECTED_PLAYER}
             UNION ALL {record_marks}
             UNION ALL SELECT d, entity_id, (bit << {failure_shift})
                 | IF(category IN ({expected_categories}), 0, bit << {investigate_shift})
             FROM fails WHERE bit IS NOT NULL AND entity_id <> @date_level
         ),
         runs AS (
             SELECT bit, d, run_id, status, started_at,
                    COUNT(*) OVER (PARTITION BY bit, d) AS n
             FROM (SELECT {bit} AS bit, analysis_date AS d, run_id, status, started_at
                   FROM {runs} WHERE analysis_date BETWEEN @start AND @end)
             WHERE bit IS NOT NULL
             QUALIFY ROW_NUMBER() OVER (PARTITION BY bit, d ORDER BY started_at DESC, run_id DESC) = 1
         )
         SELECT {mask_row} AS kind, d, m AS k, COUNT(*) AS n, CAST(NULL AS STRING) AS s1,
                CAST(NULL AS STRING) AS s2, CAST(NULL AS BOOL) AS b, CAST(NULL AS INT64) AS ts
         FROM (SELECT d, BIT_OR(m) AS m FROM marks GROUP BY d, p) GROUP BY d, m
         UNION ALL
         SELECT {failure_row}, d, bit, COUNT(*), category, NULL, LOGICAL_OR(entity_id = @date_level), NULL
         FROM fails WHERE bit IS NOT NULL GROUP BY bit, d, category
         UNION ALL
         SELECT {run_row}, d, bit, n, run_id, status, NULL, UNIX_MICROS(started_at) FROM runs",
        category = domain::failure::NORMALISED_CATEGORY_SQL,
        failures = n.of(&schema::FAILURES),
        pgs = n.of(&schema::PLAYER_GAMES),
        runs = n.of(&schema::RUNS),
        expected = mask::EXPECTED,
        failure_shift = mask::FAILURE_SHIFT,
        investigate_shift = mask::INVESTIGATE_SHIFT,
        expected_categories = expected_spellings_sql(),
        mask_row = warehouse::accounting::MASK_ROW,
        failure_row = warehouse::accounting::FAILURE_ROW,
        run_row = warehouse::accounting::RUN_ROW,
    )
}

/// Cells of the selected processors from the rows of [`cells_sql`].
pub(crate) fn cells_from_rows(
    rows: &[Vec<Value>],
    processors: &[ProcessorId],
) -> Result<Vec<CellCounts>> {
    let mut accounting = Accounting::default();
    for r in rows {
        let int = |i: usize| {
            r.get(i)
                .and_then(client::i)
                .ok_or_else(|| client::missing("reconciliation count"))
        };
        accounting.push(AccountingRow {
            kind: int(0)?,
            date: r
                .get(1)
                .and_then(client::d)
                .ok_or_else(|| client::missing("cell date"))?,
            key: int(2)?,
            count: int(3)?,
            text: r.get(4).and_then(client::s),
            status: r.get(5).and_then(client::s),
            date_level: r.get(6).and_then(client::b),
            started_at: r.get(7).and_then(client::ts),
        })?;
    }
    Ok(accounting.cells(processors))
}

/// Columns: code, date, player — expected players with neither a record nor
/// a failure (player-level or date-level) in the selected cells.
pub(crate) fn unaccounted_sql(n: &Names) -> String {
    let records = domain::reconcile::union_per_processor(|s| {
        format!(
                "SELECT '{code}' AS code, {c} AS d, player_lookup AS p FROM {t} WHERE {c} BETWEEN @start AND @end",
                code = s.code,
                c = s.date_column,
                t = n.of(schema::output_table(s.id)),
            )
    });
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
               ON c.raw = {normalised}
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
        normalised = domain::failure::NORMALISED_CATEGORY_SQL,
    )
}
