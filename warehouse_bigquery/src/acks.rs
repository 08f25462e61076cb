//! Acknowledgements and snapshots on BigQuery: kept through a staged,
//! retry-safe write (`stage`), ended or deleted by one idempotent
//! statement; the reads are shared (`warehouse::sql::acks`, `snapshots`).

use chrono::NaiveDateTime;
use domain::ack::{AckEnd, Acknowledgement};
use warehouse::Result;

use crate::client::{param, Param};
use crate::schema;
use crate::stage::Staging;
use crate::BigQueryWarehouse;

pub(crate) async fn record(wh: &BigQueryWarehouse, acks: Vec<Acknowledgement>) -> Result<()> {
    if acks.is_empty() {
        return Ok(());
    }
    let mut staging = Staging::new();
    for a in &acks {
        staging.push(
            &schema::ACKNOWLEDGEMENTS,
            &[
                Param::Str(Some(a.id.clone())),
                Param::Str(Some(wh.pipeline.code(a.processor).to_string())),
                Param::Date(Some(a.date)),
                Param::Str(a.entity.clone()),
                Param::Str(Some(a.reason.code().into())),
                Param::Str(Some(a.note.clone())),
                Param::Str(a.ticket_url.clone()),
                Param::Str(Some(a.created_by.clone())),
                Param::Timestamp(Some(a.created_at)),
                Param::Timestamp(Some(a.expires_at)),
                Param::Timestamp(a.ended_at),
                Param::Str(a.ended_by.clone()),
                Param::Str(a.end.map(|e| e.code().to_string())),
            ],
        );
    }
    staging.load(wh).await?;
    // Kept by id: one kept again replaces itself.
    let body = staging.replace_by_key_sql(wh, &schema::ACKNOWLEDGEMENTS, "id");
    staging.commit(wh, &body).await
}

/// Ends those of `ids` not ended yet: applied twice, the second changes
/// nothing (`ended_at IS NULL`). How many it ended.
pub(crate) async fn end(
    wh: &BigQueryWarehouse,
    ids: Vec<String>,
    at: NaiveDateTime,
    by: String,
    end: AckEnd,
) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let table = wh.table_name(&schema::ACKNOWLEDGEMENTS);
    let before = wh
        .bq
        .query(
            &format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE id IN UNNEST(@ids) AND ended_at IS NULL"
            ),
            vec![param("ids", Param::StrArray(ids.clone()))],
        )
        .await?;
    let open = crate::client::result_set(before)?
        .decode(|r| r.int("n"))?
        .first()
        .copied()
        .flatten()
        .unwrap_or(0);
    wh.bq
        .query(
            &format!(
                "UPDATE {table} SET ended_at = @at, ended_by = @by, end_reason = @end
                 WHERE id IN UNNEST(@ids) AND ended_at IS NULL"
            ),
            vec![
                param("at", Param::Timestamp(Some(at))),
                param("by", Param::Str(Some(by))),
                param("end", Param::Str(Some(end.code().into()))),
                param("ids", Param::StrArray(ids)),
            ],
        )
        .await?;
    Ok(usize::try_from(open).unwrap_or(0))
}

/// Keeps a snapshot through the stage: retried, it leaves one row.
pub(crate) async fn record_snapshot(
    wh: &BigQueryWarehouse,
    meta: domain::report::SnapshotMeta,
    body: String,
) -> Result<()> {
    let mut staging = Staging::new();
    staging.push(
        &schema::SNAPSHOTS,
        &[
            Param::Str(Some(meta.id.clone())),
            Param::Timestamp(Some(meta.taken_at)),
            Param::Str(Some(meta.taken_by.clone())),
            Param::Str(Some(meta.note.clone())),
            Param::Date(Some(meta.start)),
            Param::Date(Some(meta.end)),
            Param::Str(Some(meta.processors.join(","))),
            Param::Int(Some(meta.cells)),
            Param::Int(Some(meta.not_ok)),
            Param::Int(Some(meta.bytes)),
            Param::Str(Some(body)),
        ],
    );
    staging.load(wh).await?;
    let statement = staging.replace_by_key_sql(wh, &schema::SNAPSHOTS, "id");
    staging.commit(wh, &statement).await
}

/// Deletes the snapshots taken before `before` (applied twice, the second
/// deletes nothing); how many.
pub(crate) async fn delete_snapshots_before(
    wh: &BigQueryWarehouse,
    before: NaiveDateTime,
) -> Result<usize> {
    let table = wh.table_name(&schema::SNAPSHOTS);
    let at = || vec![param("before", Param::Timestamp(Some(before)))];
    let old = wh
        .bq
        .query(
            &format!("SELECT COUNT(*) AS n FROM {table} WHERE taken_at < @before"),
            at(),
        )
        .await?;
    let n = crate::client::result_set(old)?
        .decode(|r| r.int("n"))?
        .first()
        .copied()
        .flatten()
        .unwrap_or(0);
    if n > 0 {
        wh.bq
            .query(
                &format!("DELETE FROM {table} WHERE taken_at < @before"),
                at(),
            )
            .await?;
    }
    Ok(usize::try_from(n).unwrap_or(0))
}
