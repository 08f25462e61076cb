//! Drill-downs: unaccounted entities, failure rows and runs of one cell, paged.

use super::*;

/// A page of a list: how many rows, from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: i64,
    pub offset: i64,
}

impl Paging {
    /// `limit` in `1..=MAX_PAGE`, `offset` not negative.
    pub fn within(limit: i64, offset: i64) -> Self {
        Self {
            limit: limit.clamp(1, crate::MAX_PAGE),
            offset: offset.max(0),
        }
    }

    /// Binds the page to a query under the names [`Query::first_row`] rewrites.
    fn bind(self, b: &mut Builder<'_>) -> String {
        let limit = b.int(LIMIT_ARG, self.limit);
        let offset = b.int(OFFSET_ARG, self.offset);
        format!(" LIMIT {limit} OFFSET {offset}")
    }
}

pub(super) const LIMIT_ARG: &str = "lim";
pub(super) const OFFSET_ARG: &str = "off";

/// The page that a paged query's rows make. Each row carries the filtered
/// total (`COUNT(*) OVER ()`), so only a page past the end cannot say it:
/// then this is `Err` with the query for the first row alone, whose total the
/// caller hands to [`past_the_end`]. One extra query, and only then.
pub fn page_of<R, T>(
    q: &Query,
    rows: Vec<(R, i64)>,
    item: impl FnMut(R) -> T,
) -> std::result::Result<Page<T>, Query> {
    let paging = q.paging();
    let total = match rows.first() {
        Some((_, total)) => *total,
        None if paging.offset > 0 => return Err(q.first_row()),
        None => 0,
    };
    Ok(Page {
        items: rows.into_iter().map(|(row, _)| row).map(item).collect(),
        total,
        offset: paging.offset,
        limit: paging.limit,
    })
}

/// The empty page past the end of `q`, with the total the first-row query
/// (`first_rows`) reported.
pub fn past_the_end<R, T>(q: &Query, first_rows: &[(R, i64)]) -> Page<T> {
    let paging = q.paging();
    Page {
        items: Vec::new(),
        total: first_rows.first().map_or(0, |(_, total)| *total),
        offset: paging.offset,
        limit: paging.limit,
    }
}

/// Expected players with neither a record nor a failure (player- or
/// date-level) nor an acknowledgement in force (those are counted apart)
/// in the selected cells of the range, optionally narrowed by a
/// player search and paged. Columns: code, date, player, total matching.
/// `processors` must not be empty.
pub fn unaccounted(
    d: &Dialect,
    range: DateRange,
    processors: &[ProcessorId],
    search: Option<&str>,
    paging: Option<Paging>,
) -> Query {
    let u = d.universe();
    let who_is_expected = expected_condition(u);
    let mut b = Builder::new(d);
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let date_level = b.text("date_level", Some(DATE_LEVEL));
    let needle = b.text("search", search);
    let page = paging.map(|p| p.bind(&mut b));
    let acks = super::acks::in_force(&mut b, range, "", chrono::Utc::now().naive_utc());
    let records = domain::reconcile::union_per_processor(d.pipeline(), |s| {
        format!(
            "SELECT {bit} AS bit, {c} AS d, {e} AS p FROM {t} WHERE {c} BETWEEN {start} AND {end}",
            bit = mask::processor_bit(s.id),
            c = s.date_column,
            t = d.table(&s.output_table),
            e = s.entity_column,
        )
    });
    let sql = format!(
        "WITH sel AS ({sel}),
         fails AS (
             SELECT {bit} AS bit, analysis_date AS d, entity_id FROM {failures}
             WHERE analysis_date BETWEEN {start} AND {end}
         ),
         expected AS (
             SELECT DISTINCT {ud} AS d, {ue} AS p FROM {pgs}
             WHERE {ud} BETWEEN {start} AND {end} AND {who_is_expected}
               AND {search}
         ),
         recs AS (SELECT DISTINCT bit, d, p FROM ({records}) AS r),
         player_fails AS (SELECT DISTINCT bit, d, entity_id FROM fails WHERE entity_id <> {date_level}),
         date_fails AS (SELECT DISTINCT bit, d FROM fails WHERE entity_id = {date_level}),
         acks AS ({acks})
         SELECT s.code AS code, e.d AS d, e.p AS p, COUNT(*) OVER () AS total
         FROM sel AS s CROSS JOIN expected AS e
         LEFT JOIN recs AS r ON r.bit = s.bit AND r.d = e.d AND r.p = e.p
         LEFT JOIN player_fails AS pf ON pf.bit = s.bit AND pf.d = e.d AND pf.entity_id = e.p
         LEFT JOIN date_fails AS df ON df.bit = s.bit AND df.d = e.d
         WHERE r.p IS NULL AND pf.entity_id IS NULL AND df.d IS NULL
           AND NOT EXISTS (SELECT 1 FROM acks AS a
                           WHERE a.bit = s.bit AND a.d = e.d AND (a.p IS NULL OR a.p = e.p))
         ORDER BY e.d, s.bit, e.p{page}",
        sel = selected(d.pipeline(), processors),
        bit = processor_bit_sql(d.pipeline(), "processor_name"),
        failures = d.failures(),
        pgs = d.table(&u.table),
        ud = u.date_column,
        ue = u.entity_column,
        search = matches_search(&u.entity_column, &needle),
        page = page.unwrap_or_default(),
    );
    b.finish(sql)
}

/// One row of [`unaccounted`] and the total it reports.
pub fn unaccounted_row(
    p: &Pipeline,
    r: &mut dyn SqlRow,
) -> Result<((ProcessorId, NaiveDate, String), i64)> {
    let code = r.text("code")?.unwrap_or_default();
    Ok((
        (
            WarehouseError::stored_processor(p, &code)?,
            r.required_date("d", "date")?,
            r.text("p")?.unwrap_or_default(),
        ),
        r.int("total")?.unwrap_or(0),
    ))
}

/// `processor_name` is any spelling of `p` (bound: the code and the name).
pub(super) fn names_processor(b: &mut Builder<'_>, p: ProcessorId) -> String {
    let spec = b.d.pipeline().spec(p);
    let code = b.text("code", Some(&spec.code));
    let name = b.text("name", Some(&spec.name));
    format!("UPPER(processor_name) IN (UPPER({code}), UPPER({name}))")
}

/// The cell's failure rows, by canonical category and a player search,
/// paged. Columns: see [`failure_row`].
pub fn failure_rows(d: &Dialect, p: ProcessorId, date: NaiveDate, filter: &FailureFilter) -> Query {
    let mut b = Builder::new(d);
    let day = b.date("date", date);
    let of_processor = names_processor(&mut b, p);
    let category = b.text("category", filter.category.as_deref());
    let needle = b.text("search", filter.search.as_deref());
    let scope = match filter.scope {
        FailureScope::Any => String::new(),
        FailureScope::Entity => format!(
            " AND entity_id <> {}",
            b.text("date_level", Some(DATE_LEVEL))
        ),
        FailureScope::DateLevel => format!(
            " AND entity_id = {}",
            b.text("date_level", Some(DATE_LEVEL))
        ),
    };
    let page = filter.paging().bind(&mut b);
    let sql = format!(
        "WITH matching AS (
             SELECT entity_id, COALESCE(failure_category, '') AS raw_category,
                    {code} AS category, COALESCE(failure_reason, '') AS reason,
                    COALESCE(can_retry, FALSE) AS can_retry, upstream_processor,
                    upstream_category, run_id
             FROM {failures}
             WHERE analysis_date = {day} AND {of_processor}{scope}
         )
         SELECT entity_id, raw_category, category, reason, can_retry, upstream_processor,
                upstream_category, run_id, COUNT(*) OVER () AS total
         FROM matching
         WHERE ({category} IS NULL OR category = {category}) AND {search}
         ORDER BY category, entity_id{page}",
        code = d.category_code(),
        failures = d.failures(),
        search = matches_search("entity_id", &needle),
    );
    b.finish(sql)
}

/// Every cell's failure rows over a range at once, the first `cap` of each
/// (in [`failure_rows`]' order: category, entity) with the cell's total;
/// the date-level row of a cell comes first, numbered apart. What a
/// snapshot freezes in one statement, not three per cell. Columns: `code`,
/// `d`, `n` (the row's number in its cell), then [`failure_row`]'s.
pub fn failure_rows_in_range(
    d: &Dialect,
    range: DateRange,
    processors: &[ProcessorId],
    cap: i64,
) -> Query {
    let mut b = Builder::new(d);
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let date_level = b.text("date_level", Some(DATE_LEVEL));
    let cap = b.int("cap", cap);
    let sql = format!(
        "WITH sel AS ({sel}),
         matching AS (
             SELECT s.code AS code, analysis_date AS d, entity_id,
                    COALESCE(failure_category, '') AS raw_category, {code} AS category,
                    COALESCE(failure_reason, '') AS reason, COALESCE(can_retry, FALSE) AS can_retry,
                    upstream_processor, upstream_category, run_id,
                    entity_id = {date_level} AS date_level
             FROM {failures} JOIN sel AS s ON {bit} = s.bit
             WHERE analysis_date BETWEEN {start} AND {end}
         ),
         numbered AS (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY code, d, date_level ORDER BY category, entity_id) AS n,
                    COUNT(*) OVER (PARTITION BY code, d, date_level) AS total
             FROM matching
         )
         SELECT code, d, n, date_level, entity_id, raw_category, category, reason, can_retry,
                upstream_processor, upstream_category, run_id, total
         FROM numbered WHERE n <= {cap}
         ORDER BY d, code, date_level DESC, n",
        sel = selected(d.pipeline(), processors),
        bit = processor_bit_sql(d.pipeline(), "processor_name"),
        code = d.category_code(),
        failures = d.failures(),
    );
    b.finish(sql)
}

/// One row of [`failure_rows_in_range`]: its cell, whether it is the
/// date-level row, the row and its cell's total.
pub fn failure_in_range_row(
    p: &Pipeline,
    r: &mut dyn SqlRow,
) -> Result<((ProcessorId, NaiveDate, bool), FailureRow, i64)> {
    let code = r.text("code")?.unwrap_or_default();
    let cell = (
        WarehouseError::stored_processor(p, &code)?,
        r.required_date("d", "date")?,
        r.flag("date_level")?.unwrap_or(false),
    );
    let (row, total) = failure_row(r)?;
    Ok((cell, row, total))
}

/// One row of [`failure_rows`] and the total it reports.
pub fn failure_row(r: &mut dyn SqlRow) -> Result<(FailureRow, i64)> {
    let code = r.text("category")?.unwrap_or_default();
    Ok((
        FailureRow {
            entity_id: r.text("entity_id")?.unwrap_or_default(),
            raw_category: r.text("raw_category")?.unwrap_or_default(),
            category: domain::FailureCategory::from_key(&code),
            code,
            reason: r.text("reason")?.unwrap_or_default(),
            can_retry: r.flag("can_retry")?.unwrap_or(false),
            upstream_processor: r.text("upstream_processor")?,
            upstream_category: r.text("upstream_category")?,
            run_id: r.text("run_id")?,
        },
        r.int("total")?.unwrap_or(0),
    ))
}

/// The runs that wrote a cell, newest first. Columns: see [`run_row`].
pub fn cell_runs(d: &Dialect, p: ProcessorId, date: NaiveDate) -> Query {
    let mut b = Builder::new(d);
    let day = b.date("date", date);
    let of_processor = names_processor(&mut b, p);
    let sql = format!(
        "SELECT run_id, job_id, status, COALESCE(records_written, 0) AS records_written,
                COALESCE(failures_written, 0) AS failures_written,
                COALESCE(expected_count, 0) AS expected_count,
                COALESCE(duration_ms, 0) AS duration_ms, error, {started} AS started
         FROM {runs} WHERE analysis_date = {day} AND {of_processor}
         ORDER BY started_at DESC, run_id DESC",
        started = d.micros("started_at"),
        runs = d.runs(),
    );
    b.finish(sql)
}

pub fn run_row(r: &mut dyn SqlRow) -> Result<RunInfo> {
    Ok(RunInfo {
        run_id: r.text("run_id")?.unwrap_or_default(),
        job_id: r.text("job_id")?,
        status: r.text("status")?.unwrap_or_default().into(),
        records_written: r.int("records_written")?.unwrap_or(0),
        failures_written: r.int("failures_written")?.unwrap_or(0),
        expected_count: r.int("expected_count")?.unwrap_or(0),
        duration_ms: r.int("duration_ms")?.unwrap_or(0),
        error: r.text("error")?,
        started_at: r.micros("started")?,
    })
}
