//! One entity on one date across every processor.

use super::*;

/// How far from the date a box score makes a player known: a bounded
/// partition range, so the trace never scans a whole table.
pub const TRACE_WINDOW_DAYS: i64 = 730;

/// The dates a trace reads box scores from.
pub fn trace_window(date: NaiveDate) -> (NaiveDate, NaiveDate) {
    let days = chrono::Duration::days(TRACE_WINDOW_DAYS);
    (date - days, date + days)
}

/// Columns: box scores of the player within the trace window, and whether
/// the player is expected on the date (0 or more).
pub fn player_known(d: &Dialect, player: &str, date: NaiveDate) -> Query {
    let u = d.universe();
    let who_is_expected = expected_condition(u);
    let mut b = Builder::new(d);
    let (lo, hi) = trace_window(date);
    let who = b.text("player", Some(player));
    let day = b.date("date", date);
    let (lo, hi) = (b.date("lo", lo), b.date("hi", hi));
    let sql = format!(
        "SELECT COUNT(*) AS games, COUNT(CASE WHEN {ud} = {day} AND {who_is_expected} THEN 1 END) AS expected
         FROM {pgs} WHERE {ue} = {who} AND {ud} BETWEEN {lo} AND {hi}",
        pgs = d.table(&u.table),
        ud = u.date_column,
        ue = u.entity_column,
    );
    b.finish(sql)
}

/// Columns: processor bit and the player's records on the date in its table.
pub fn player_records(d: &Dialect, player: &str, date: NaiveDate) -> Query {
    let mut b = Builder::new(d);
    let who = b.text("player", Some(player));
    let day = b.date("date", date);
    let sql = domain::reconcile::union_per_processor(d.pipeline(), |s| {
        format!(
            "SELECT {bit} AS bit, COUNT(*) AS n FROM {t} WHERE {c} = {day} AND {e} = {who}",
            bit = mask::processor_bit(s.id),
            t = d.table(&s.output_table),
            e = s.entity_column,
            c = s.date_column,
        )
    });
    b.finish(sql)
}

/// Columns: processor code, entity, raw category, reason, upstream
/// processor, upstream category — the player's own failures before
/// date-level ones.
pub fn player_failures(d: &Dialect, player: &str, date: NaiveDate) -> Query {
    let mut b = Builder::new(d);
    let who = b.text("player", Some(player));
    let day = b.date("date", date);
    let date_level = b.text("date_level", Some(DATE_LEVEL));
    let sql = format!(
        "SELECT {code} AS code, entity_id, COALESCE(failure_category, '') AS raw_category,
                COALESCE(failure_reason, '') AS reason,
                upstream_processor, upstream_category
         FROM {failures}
         WHERE analysis_date = {day} AND entity_id IN ({who}, {date_level})
         ORDER BY CASE WHEN entity_id = {who} THEN 0 ELSE 1 END, entity_id",
        code = processor_code_sql(d.pipeline(), "processor_name"),
        failures = d.failures(),
    );
    b.finish(sql)
}

/// The trace from what a store read: the player, whether expected on the
/// date, the rows of [`player_records`] and [`player_failures`], and the
/// recent box scores (none for a universe other than the NBA's).
pub fn player_trace(
    pipeline: &Pipeline,
    player: &str,
    date: NaiveDate,
    expected: bool,
    record_bits: &[Option<i64>],
    failures: &[(Option<String>, TraceFailure)],
    recent_games: Vec<domain::game::PlayerGame>,
) -> domain::report::PlayerTrace {
    domain::report::PlayerTrace {
        player_lookup: player.to_string(),
        date,
        expected,
        links: trace_links(pipeline, record_bits, failures, expected),
        recent_games,
        explained: None,
    }
}

/// One row of [`player_records`]: the processor's bit when the player has a
/// record in its table.
pub fn record_bit(r: &mut dyn SqlRow) -> Result<Option<i64>> {
    Ok(if r.int("n")?.unwrap_or(0) > 0 {
        r.int("bit")?
    } else {
        None
    })
}

/// One row of [`player_failures`]: the processor code (`None` for a
/// spelling Rollcall does not know) and the failure.
pub fn trace_failure_row(r: &mut dyn SqlRow) -> Result<(Option<String>, TraceFailure)> {
    Ok((
        r.text("code")?,
        TraceFailure {
            entity_id: r.text("entity_id")?.unwrap_or_default(),
            raw_category: r.text("raw_category")?.unwrap_or_default(),
            reason: r.text("reason")?.unwrap_or_default(),
            upstream_processor: r.text("upstream_processor")?,
            upstream_category: r.text("upstream_category")?,
        },
    ))
}

/// The trace's links from the rows of [`player_records`] and
/// [`player_failures`] (in their order): per processor a record, the failure
/// that accounts for the player (their own before a date-level one), or
/// neither.
pub fn trace_links(
    pipeline: &Pipeline,
    record_bits: &[Option<i64>],
    failures: &[(Option<String>, TraceFailure)],
    expected: bool,
) -> Vec<TraceLink> {
    pipeline
        .processors
        .iter()
        .map(|spec| {
            let bit = mask::processor_bit(spec.id);
            let has_record = record_bits.contains(&Some(bit));
            let failure = failures
                .iter()
                .find(|(code, _)| code.as_deref() == Some(spec.code.as_str()))
                .map(|(_, f)| f.clone());
            TraceLink {
                processor: spec.id,
                state: TraceState::of(&pipeline.categories, has_record, failure, expected),
                failed_run: None,
            }
        })
        .collect()
}
