//! Acknowledgements (issue [N] 1): make them from a checked request, revoke
//! them, and end those whose entity's state changed — the operations the
//! CLI, the pages and the evaluator share.

use chrono::NaiveDateTime;
use domain::ack::{AckEnd, AckRequest, Acknowledgement};
use domain::DateRange;
use warehouse::sql::AckScope;
use warehouse::Warehouse;

use crate::EngineError;

/// Who ends an acknowledgement whose entity's state changed.
pub const ROLLCALL: &str = "rollcall";

/// Acknowledgements in force read back at most (what a list shows, and
/// what state changes are looked for in).
pub const LIST_LIMIT: usize = 5000;

/// Checks `request`, refuses entities that are not unaccounted in the cell
/// now (naming them), and keeps one acknowledgement per entity (or one for
/// the cell) by `who` at `at`.
pub async fn acknowledge(
    wh: &dyn Warehouse,
    mut request: AckRequest,
    who: &str,
    at: NaiveDateTime,
) -> Result<Vec<Acknowledgement>, EngineError> {
    request.validate()?;
    let day = DateRange::new(request.date, request.date, 1)?;
    let open: std::collections::BTreeSet<String> = wh
        .unaccounted(day, &[request.processor])
        .await?
        .into_iter()
        .map(|(_, _, entity)| entity)
        .collect();
    match &request.entities {
        Some(list) => {
            let not_open: Vec<&str> = list
                .iter()
                .filter(|e| !open.contains(*e))
                .map(String::as_str)
                .take(10)
                .collect();
            if !not_open.is_empty() {
                return Err(domain::DomainError::BadParameter {
                    name: "entity",
                    message: format!(
                        "not unaccounted in {} {} now (only unaccounted entities can be acknowledged): {}",
                        wh.pipeline().code(request.processor),
                        request.date,
                        not_open.join(", ")
                    ),
                }
                .into());
            }
        }
        None if open.is_empty() => {
            return Err(domain::DomainError::BadParameter {
                name: "cell",
                message: format!(
                    "{} {} has no unaccounted entity to acknowledge",
                    wh.pipeline().code(request.processor),
                    request.date
                ),
            }
            .into())
        }
        None => {}
    }
    let stamp = crate::watch::uuid_like();
    let acks = request.acknowledgements(who, at, |i| format!("ack-{stamp}-{i}"));
    wh.record_acknowledgements(acks.clone()).await?;
    Ok(acks)
}

/// Revokes one acknowledgement (a 404 for an unknown id; revoking an ended
/// one changes nothing and says so).
pub async fn revoke(
    wh: &dyn Warehouse,
    id: &str,
    who: &str,
    at: NaiveDateTime,
) -> Result<Acknowledgement, EngineError> {
    let Some(ack) = wh.acknowledgement(id).await? else {
        return Err(EngineError::NotFound(format!(
            "no acknowledgement {:?}",
            id.chars().take(80).collect::<String>()
        )));
    };
    if ack.ended_at.is_some() {
        return Err(EngineError::Refused(format!(
            "acknowledgement {id} has ended already ({})",
            ack.state(at)
        )));
    }
    wh.end_acknowledgements(vec![id.to_string()], at, who.to_string(), AckEnd::Revoked)
        .await?;
    Ok(wh.acknowledgement(id).await?.unwrap_or(ack))
}

/// Ends the acknowledgements in force whose entity has a record or a
/// failure now, or whose whole cell ran again since; how many.
pub async fn end_changed(wh: &dyn Warehouse, at: NaiveDateTime) -> Result<usize, EngineError> {
    let in_force = wh
        .acknowledgements(AckScope::InForce, None, LIST_LIMIT)
        .await?;
    let (Some(first), Some(last)) = (
        in_force.iter().map(|a| a.date).min(),
        in_force.iter().map(|a| a.date).max(),
    ) else {
        return Ok(0);
    };
    let span = (last - first).num_days() + 1;
    let mut changed = wh
        .changed_acknowledgements(DateRange::new(first, last, span)?)
        .await?;
    changed.sort();
    changed.dedup();
    if changed.is_empty() {
        return Ok(0);
    }
    Ok(wh
        .end_acknowledgements(changed, at, ROLLCALL.into(), AckEnd::StateChanged)
        .await?)
}
