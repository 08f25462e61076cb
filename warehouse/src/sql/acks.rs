//! Acknowledgements (issue [N] 1): the ones in force over a range, as the
//! reconciliation's marks and the drill-down's lists see them, the kept
//! list, and those whose entity's state changed since — read alike by both
//! stores (each writes them itself).

use chrono::NaiveDateTime;
use domain::ack::{AckEnd, AckReason, Acknowledgement};

use super::*;

pub const ACKNOWLEDGEMENTS: &str = "rollcall_meta.acknowledgements";

/// The acknowledgements in force at `at` over the range as rows `(bit, d,
/// p)`: the processor's bit, the date, the entity (NULL: the whole cell),
/// after the `leading` columns. `at` is bound, so a statement stays cached;
/// the reads pass now, an evaluation its own clock (`--as-of`). A whole cell's stops counting as soon as any
/// later run of the cell is recorded (a run outside Rollcall too), before
/// anything ends it for good (`changed_acknowledgements`).
pub(super) fn in_force(
    b: &mut Builder<'_>,
    range: DateRange,
    leading: &str,
    at: NaiveDateTime,
) -> String {
    in_force_where(b, range, leading, true, at)
}

/// [`in_force`]; `later_runs_count`: false to keep whole cells' whatever
/// ran since (what looks for the ones to end, and the reconciliation,
/// which compares with the cell's runs itself).
pub(super) fn in_force_where(
    b: &mut Builder<'_>,
    range: DateRange,
    leading: &str,
    later_runs_count: bool,
    at: NaiveDateTime,
) -> String {
    let d = b.d;
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let now = b.int("now", at.and_utc().timestamp_micros());
    let bit = processor_bit_sql(d.pipeline(), "rc_a.processor_code");
    let not_ran_since = if later_runs_count {
        format!(
            "AND (rc_a.entity_id IS NOT NULL OR NOT EXISTS (
               SELECT 1 FROM {runs} AS rc_r
               WHERE rc_r.analysis_date = rc_a.cell_date AND rc_r.started_at > rc_a.created_at
                 AND {run_bit} = {bit}))",
            run_bit = processor_bit_sql(d.pipeline(), "rc_r.processor_name"),
            runs = d.runs(),
        )
    } else {
        String::new()
    };
    format!(
        "SELECT {leading}{bit} AS bit, rc_a.cell_date AS d, rc_a.entity_id AS p FROM {t} AS rc_a
         WHERE rc_a.ended_at IS NULL AND {expires} > {now}
           AND rc_a.cell_date BETWEEN {start} AND {end} {not_ran_since}",
        t = d.table(ACKNOWLEDGEMENTS),
        expires = d.micros("rc_a.expires_at"),
    )
}

const ACK_COLUMNS: &str =
    "id, processor_code, cell_date, entity_id, reason, note, ticket_url, created_by,
     {created} AS created_us, {expires} AS expires_us, {ended} AS ended_us, ended_by, end_reason";

/// Which acknowledgements a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckScope {
    /// Those in force at the moment the query is built.
    InForce,
    /// Every kept one, newest first.
    All,
}

/// The kept acknowledgements (at most `limit`), newest first; one cell's
/// when `cell` is given.
pub fn acknowledgements(
    d: &Dialect,
    scope: AckScope,
    cell: Option<(ProcessorId, NaiveDate)>,
    limit: usize,
) -> Query {
    let mut b = Builder::new(d);
    let mut conditions = vec!["1 = 1".to_string()];
    if scope == AckScope::InForce {
        let now = b.int("now", chrono::Utc::now().timestamp_micros());
        conditions.push(format!(
            "ended_at IS NULL AND {} > {now}",
            d.micros("expires_at")
        ));
    }
    if let Some((p, date)) = cell {
        let code = b.text("code", Some(&d.pipeline().spec(p).code));
        let date = b.date("date", date);
        conditions.push(format!("processor_code = {code} AND cell_date = {date}"));
    }
    let limit = b.int("limit", limit as i64);
    b.finish(format!(
        "SELECT {cols} FROM {t} WHERE {conditions}
         ORDER BY created_at DESC, id LIMIT {limit}",
        cols = ACK_COLUMNS
            .replace("{created}", &d.micros("created_at"))
            .replace("{expires}", &d.micros("expires_at"))
            .replace("{ended}", &d.micros("ended_at")),
        t = d.table(ACKNOWLEDGEMENTS),
        conditions = conditions.join(" AND "),
    ))
}

/// One acknowledgement.
pub fn acknowledgement(d: &Dialect, id: &str) -> Query {
    let mut b = Builder::new(d);
    let id = b.text("id", Some(id));
    b.finish(format!(
        "SELECT {cols} FROM {t} WHERE id = {id}",
        cols = ACK_COLUMNS
            .replace("{created}", &d.micros("created_at"))
            .replace("{expires}", &d.micros("expires_at"))
            .replace("{ended}", &d.micros("ended_at")),
        t = d.table(ACKNOWLEDGEMENTS),
    ))
}

pub fn acknowledgement_row(d: &Dialect, r: &mut dyn SqlRow) -> Result<Acknowledgement> {
    let code = r.required_text("processor_code")?;
    let reason = r.required_text("reason")?;
    let when = |r: &mut dyn SqlRow, c: &str| -> Result<Option<NaiveDateTime>> { r.micros(c) };
    Ok(Acknowledgement {
        id: r.required_text("id")?,
        processor: WarehouseError::stored_processor(d.pipeline(), &code)?,
        date: r.required_date("cell_date", "an acknowledgement's date")?,
        entity: r.text("entity_id")?,
        reason: AckReason::parse(&reason).map_err(|_| {
            WarehouseError::Query(format!("unknown acknowledgement reason {reason:?}"))
        })?,
        note: r.text("note")?.unwrap_or_default(),
        ticket_url: r.text("ticket_url")?,
        created_by: r.text("created_by")?.unwrap_or_default(),
        created_at: when(r, "created_us")?.ok_or_else(|| missing("an acknowledgement's time"))?,
        expires_at: when(r, "expires_us")?.ok_or_else(|| missing("an acknowledgement's expiry"))?,
        ended_at: when(r, "ended_us")?,
        ended_by: r.text("ended_by")?,
        end: r.text("end_reason")?.as_deref().and_then(AckEnd::parse),
    })
}

/// The ids of acknowledgements in force over the range whose entity's
/// state changed since: it has a record or a failure now, or its cell a
/// date-level failure (one entity), or a run of its cell started after it
/// was made (a whole cell). An id may come more than once.
pub fn changed_acknowledgements(d: &Dialect, range: DateRange) -> Query {
    let mut b = Builder::new(d);
    let now = chrono::Utc::now().naive_utc();
    let marks = per_entity_marks(&mut b, range, now);
    let acks = in_force_where(
        &mut b,
        range,
        "rc_a.id AS id, rc_a.created_at AS created_at, ",
        false,
        now,
    );
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let date_level = b.text("date_level", Some(DATE_LEVEL));
    b.finish(format!(
        "{marks},
         ak AS ({acks}),
         last_runs AS (
             SELECT {run_bit} AS bit, analysis_date AS d, MAX(started_at) AS last
             FROM {runs} WHERE analysis_date BETWEEN {start} AND {end}
             GROUP BY 1, 2
         )
         SELECT ak.id AS id FROM ak JOIN per_player AS pp ON pp.d = ak.d AND pp.p = ak.p
         WHERE ((pp.r | pp.f) & ak.bit) <> 0
         UNION ALL
         SELECT ak.id FROM ak JOIN fails AS df
           ON df.bit = ak.bit AND df.d = ak.d AND df.entity_id = {date_level}
         WHERE ak.p IS NOT NULL
         UNION ALL
         SELECT ak.id FROM ak JOIN last_runs AS lr ON lr.bit = ak.bit AND lr.d = ak.d
         WHERE ak.p IS NULL AND lr.last > ak.created_at",
        run_bit = processor_bit_sql(d.pipeline(), "processor_name"),
        runs = d.runs(),
    ))
}
