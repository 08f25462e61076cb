//! The reconciliation of a range: one set-based statement and its rows.

use chrono::NaiveDateTime;

use super::*;

/// The reconciliation of a range as one set-based statement, whatever the
/// range length or the processors asked for. Each (date, player) seen
/// anywhere (expected, a record, a failure) gets one mask
/// (`domain::reconcile::Mask`: the expected flag and three words of
/// processor bits), so the accounting is one grouping over the range's rows;
/// the statement returns the few distinct masks per date with their player
/// counts (kind 0), failure rows per (processor, date, normalised category)
/// with the date-level flag (kind 1) and runs per (processor, date) with the
/// latest (kind 2); `domain::reconcile::cells` turns them into cells.
/// Columns: see [`accounting_row`].
///
/// Kept small on purpose: DuckDB re-plans a prepared statement that reads
/// tables on every execution, so planning is paid per call.
pub fn reconcile(d: &Dialect, range: DateRange) -> Query {
    reconcile_statement(d, range, false, chrono::Utc::now().naive_utc())
}

/// [`reconcile`] whose mask rows also carry `fp`, the XOR of their
/// entities' fingerprints ([`Dialect::fingerprint`]): what a watch tells an
/// unchanged set of open entities by without reading a name
/// (`domain::watch::open_sets`).
pub fn reconcile_fingerprinted(d: &Dialect, range: DateRange, at: NaiveDateTime) -> Query {
    reconcile_statement(d, range, true, at)
}

/// [`reconcile`] as it was before acknowledgements (issue [N]): for the
/// benchmark that measures what they cost, side by side.
pub fn reconcile_without_acknowledgements(d: &Dialect, range: DateRange) -> Query {
    let mut b = Builder::new(d);
    let marks = marks_with(&mut b, range, Acks::Not, chrono::Utc::now().naive_utc());
    reconcile_over(b, marks, range, false, false)
}

fn reconcile_statement(
    d: &Dialect,
    range: DateRange,
    fingerprints: bool,
    at: NaiveDateTime,
) -> Query {
    let mut b = Builder::new(d);
    // Whole cells' acknowledgements come back as rows of their own (kind
    // 3), folded into the masks by `Accounting`: cheaper than joining them
    // onto every entity's marks.
    let marks = marks_with(&mut b, range, Acks::OfEntities, at);
    reconcile_over(b, marks, range, fingerprints, true)
}

fn reconcile_over(
    mut b: Builder<'_>,
    marks: String,
    range: DateRange,
    fingerprints: bool,
    acknowledgements: bool,
) -> Query {
    let d = b.d;
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let date_level = b.text("date_level", Some(DATE_LEVEL));
    let bit = processor_bit_sql(d.pipeline(), "processor_name");
    let null_int = d.null(SqlType::Int);
    let sql = format!(
        "{marks},
         runs AS ({latest_runs})
         SELECT {MASK_ROW} AS kind, d, r AS k, COUNT(*) AS n, {null_text} AS s1,
                {null_text} AS s2, e = 1 AS b, {null_int} AS ts, f AS k2, i AS k3,
                {null_text} AS s3, {fp} AS fp, a AS k4
         FROM per_player GROUP BY d, e, r, f, i, a
         UNION ALL
         SELECT {FAILURE_ROW}, d, bit, COUNT(*), category, NULL, {any_date_level}, NULL, NULL, NULL,
                NULL, NULL, NULL
         FROM fails WHERE bit IS NOT NULL GROUP BY bit, d, category
         UNION ALL
         SELECT {RUN_ROW}, d, bit, n, run_id, status, NULL, {started}, NULL, NULL,
                CASE WHEN status = 'failed' THEN SUBSTR(error, 1, {error_chars}) END, NULL, NULL
         FROM runs
         {cell_acks}",
        cell_acks = if acknowledgements {
            format!(
                "UNION ALL
                 SELECT {ACK_CELL_ROW}, d, bit, COUNT(*), NULL, NULL, NULL, {made}, NULL,
                        NULL, NULL, NULL, NULL
                 FROM acks WHERE bit IS NOT NULL AND p IS NULL GROUP BY d, bit",
                made = d.micros("MAX(created_at)"),
            )
        } else {
            String::new()
        },
        null_text = d.null(SqlType::Text),
        fp = if fingerprints {
            format!("BIT_XOR({})", d.fingerprint("p"))
        } else {
            null_int.clone()
        },
        any_date_level = d.any(&format!("entity_id = {date_level}")),
        started = d.micros("started_at"),
        error_chars = domain::report::LAST_RUN_ERROR_CHARS,
        latest_runs = d.latest_runs(&format!(
            "SELECT {bit} AS bit, analysis_date AS d, run_id, status, started_at, error
             FROM {runs} WHERE analysis_date BETWEEN {start} AND {end}",
            runs = d.runs(),
        )),
    );
    b.finish(sql)
}

/// The reconciliation's per-entity marks of a range, as a `WITH` clause
/// (no trailing comma): `fails` (failure rows with their processor bit and
/// normalised category) and `per_player` — per (date `d`, entity `p`) the
/// expected flag `e` and the record, failure, investigate and
/// acknowledged bits `r`, `f`, `i`, `a` (an acknowledgement in force, of the
/// entity or its whole cell: `acks::in_force`). Shared by [`reconcile`] and the watch's open entities, so who
/// is open is decided by one text.
pub(super) fn per_entity_marks(b: &mut Builder<'_>, range: DateRange, at: NaiveDateTime) -> String {
    marks_with(b, range, Acks::All, at)
}

/// Which acknowledgements the marks carry in `a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acks {
    /// Of entities and of whole cells (joined by date).
    All,
    /// Of entities only: the reconciliation reads whole cells' apart.
    OfEntities,
    /// None (`a` is 0): the statement before issue [N], which the benchmark
    /// runs beside today's to price them.
    Not,
}

fn marks_with(b: &mut Builder<'_>, range: DateRange, acks: Acks, at: NaiveDateTime) -> String {
    let d = b.d;
    let p = d.pipeline();
    let u = &p.universe;
    let who_is_expected = expected_condition(u);
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let date_level = b.text("date_level", Some(DATE_LEVEL));
    let record_marks = domain::reconcile::union_per_processor(p, |s| {
        format!(
            "SELECT {c}, {e}, 0, {bit}, 0, 0, 0 FROM {t} WHERE {c} BETWEEN {start} AND {end}",
            c = s.date_column,
            t = d.table(&s.output_table),
            e = s.entity_column,
            bit = mask::processor_bit(s.id),
        )
    });
    let bit = processor_bit_sql(p, "processor_name");
    // A whole cell's acknowledgement covers everyone of its date: its bit
    // joins each entity's marks by date (no second scan of the universe).
    let plain = "SELECT d, p, MAX(e) AS e, BIT_OR(r) AS r, BIT_OR(f) AS f, BIT_OR(i) AS i,
                    BIT_OR(a) AS a
             FROM marks GROUP BY d, p";
    let entity_acks =
        "UNION ALL SELECT d, p, 0, 0, 0, 0, bit FROM acks WHERE bit IS NOT NULL AND p IS NOT NULL";
    let (acks_cte, entity_acks, per_player) = match acks {
        // A whole cell's acknowledgement applies until a later run of the
        // cell: `Accounting` compares that with the cell's runs.
        Acks::OfEntities => (
            format!(
                "acks AS ({}),",
                super::acks::in_force_where(b, range, "rc_a.created_at AS created_at, ", false, at)
            ),
            entity_acks,
            plain,
        ),
        Acks::All => (
            format!("acks AS ({}),", super::acks::in_force(b, range, "", at)),
            entity_acks,
            "SELECT g.d, g.p, g.e, g.r, g.f, g.i, g.a | COALESCE(ca.cb, 0) AS a
             FROM (
                 SELECT d, p, MAX(e) AS e, BIT_OR(r) AS r, BIT_OR(f) AS f, BIT_OR(i) AS i,
                        BIT_OR(a) AS a
                 FROM marks GROUP BY d, p
             ) AS g
             LEFT JOIN (
                 SELECT d, BIT_OR(bit) AS cb FROM acks
                 WHERE bit IS NOT NULL AND p IS NULL GROUP BY d
             ) AS ca ON ca.d = g.d",
        ),
        Acks::Not => (
            String::new(),
            "",
            "SELECT d, p, MAX(e) AS e, BIT_OR(r) AS r, BIT_OR(f) AS f, BIT_OR(i) AS i, 0 AS a
             FROM marks GROUP BY d, p",
        ),
    };
    format!(
        "WITH fails AS (
             SELECT {bit} AS bit, analysis_date AS d, entity_id, {NORMALISED_CATEGORY_SQL} AS category
             FROM {failures}
             WHERE analysis_date BETWEEN {start} AND {end}
         ),
         {acks_cte}
         marks AS (
             SELECT {ud} AS d, {ue} AS p, 1 AS e, 0 AS r, 0 AS f, 0 AS i, 0 AS a
             FROM {pgs}
             WHERE {ud} BETWEEN {start} AND {end} AND {who_is_expected}
             UNION ALL {record_marks}
             UNION ALL SELECT d, entity_id, 0, 0, bit,
                 CASE WHEN category IN ({expected_categories}) THEN 0 ELSE bit END, 0
             FROM fails WHERE bit IS NOT NULL AND entity_id <> {date_level}
             {entity_acks}
         ),
         per_player AS ({per_player})",
        failures = d.failures(),
        pgs = d.table(&u.table),
        ud = u.date_column,
        ue = u.entity_column,
        expected_categories = expected_spellings_sql(&p.categories),
    )
}

/// One row of [`reconcile`]: kind, date, record bits or processor bit,
/// count, category or last run id, last status, expected or date-level flag,
/// last start, failure bits, investigate bits, the last run's error when it
/// failed.
pub fn accounting_row(r: &mut dyn SqlRow) -> Result<AccountingRow> {
    let count = |r: &mut dyn SqlRow, column: &str| {
        r.int(column)?
            .ok_or_else(|| missing("a reconciliation count"))
    };
    Ok(AccountingRow {
        kind: count(r, "kind")?,
        date: r.required_date("d", "the cell date")?,
        key: count(r, "k")?,
        count: count(r, "n")?,
        text: r.text("s1")?,
        status: r.text("s2")?,
        flag: r.flag("b")?,
        started_at: r.micros("ts")?,
        failure_bits: r.int("k2")?,
        investigate_bits: r.int("k3")?,
        error: r.text("s3")?,
        fingerprint: r.int("fp")?,
        acknowledged_bits: r.int("k4")?,
    })
}
