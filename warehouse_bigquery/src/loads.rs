//! Upstream loads (box scores and schedule, or a pipeline's own universe):
//! chunks are staged as they arrive, each full load job's worth sent at
//! once, then one transaction replaces the loaded dates from the stage
//! (see `stage`: applying it twice finds the stage cleared). A source that
//! fails, or a repeated box-score key, removes what was staged and writes
//! nothing.

use chrono::NaiveDate;
use serde_json::Value;
use warehouse::{
    LoadRows, LoadSource, LoadTally, Result, UpstreamLoad, WarehouseError, GAME_KEY_COLUMNS,
};

use crate::client::{self, param, Param};
use crate::schema::{self, TableDef};
use crate::stage::{date_literal, Staging};
use crate::writes::{command_value, encode};
use crate::BigQueryWarehouse;

pub(crate) async fn load_rows(
    wh: &BigQueryWarehouse,
    mut source: Box<dyn LoadSource>,
) -> Result<UpstreamLoad> {
    let mut staging = Staging::new();
    let mut tally = LoadTally::default();
    let staged = stage_all(wh, &mut staging, &mut tally, source.as_mut()).await;
    let checked = match staged {
        Ok(()) => no_repeated_game(wh, &staging).await,
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        staging.abandon(wh).await;
        return Err(e);
    }
    let mut body = String::new();
    for (t, dates, column) in [
        (&schema::SCHEDULE, &tally.schedule_dates, "game_date"),
        (&schema::PLAYER_GAMES, &tally.game_dates, "game_date"),
    ]
    .into_iter()
    .chain(wh.tables.universe.map(|t| {
        (
            t,
            &tally.universe_dates,
            wh.pipeline.universe.date_column.as_str(),
        )
    })) {
        let (Some(lo), Some(hi)) = (dates.first(), dates.last()) else {
            continue;
        };
        body += &replace_dates_sql(wh, &staging, t, column, *lo, *hi);
    }
    if body.is_empty() {
        return Ok(tally.outcome());
    }
    body += &staging.clear_sql(wh);
    staging.commit(wh, &body).await?;
    Ok(tally.outcome())
}

/// Stages every chunk of the source, loading whenever a load job's worth
/// is pending.
async fn stage_all(
    wh: &BigQueryWarehouse,
    staging: &mut Staging,
    tally: &mut LoadTally,
    source: &mut dyn LoadSource,
) -> Result<()> {
    while let Some(chunk) = source.next_chunk().await? {
        tally.add(&chunk);
        tally.check_one_kind()?;
        match chunk {
            LoadRows::Schedule(rows) => stage_encoded(staging, &schema::SCHEDULE, encode(&rows)?),
            LoadRows::Games(rows) => stage_encoded(staging, &schema::PLAYER_GAMES, encode(&rows)?),
            LoadRows::Universe(rows) => {
                let Some(t) = wh.tables.universe else {
                    return Err(WarehouseError::Query(format!(
                        "{} loads as box scores (import player-game-summary), not as a universe of its own",
                        wh.pipeline.universe.table
                    )));
                };
                let columns = &wh.pipeline.universe.columns;
                for r in rows {
                    let mut row = vec![Param::Str(Some(r.entity)), Param::Date(Some(r.date))];
                    row.extend(
                        columns
                            .iter()
                            .zip(&r.values)
                            .map(|(c, v)| command_value(c.ty, v)),
                    );
                    staging.push(t, &row);
                }
            }
        }
        if staging.pending_is_full() {
            staging.load(wh).await?;
        }
    }
    staging.load(wh).await
}

fn stage_encoded(staging: &mut Staging, t: &'static TableDef, values: Vec<Value>) {
    for o in values.iter().filter_map(Value::as_object) {
        staging.push(t, &schema::row_params(t, o, &[]));
    }
}

/// One row per player and game: a second would make the history
/// double-count the game. Checked on the stage (each staged row once, by
/// `seq`) before anything replaces the stored rows.
async fn no_repeated_game(wh: &BigQueryWarehouse, staging: &Staging) -> Result<()> {
    if !staging.has_rows(&schema::PLAYER_GAMES) {
        return Ok(());
    }
    let rows = wh
        .bq
        .query(
            &format!(
                "SELECT player_lookup, game_id FROM {stage} WHERE write_id = @w
                 GROUP BY {GAME_KEY_COLUMNS} HAVING COUNT(DISTINCT seq) > 1
                 ORDER BY {GAME_KEY_COLUMNS} LIMIT 1",
                stage = wh.names.stage(&schema::PLAYER_GAMES),
            ),
            vec![param("w", Param::Str(Some(staging.id.clone())))],
        )
        .await?;
    let repeated = client::result_set(rows)?.decode(|r| {
        Ok((
            r.text("player_lookup")?.unwrap_or_default(),
            r.text("game_id")?.unwrap_or_default(),
        ))
    })?;
    match repeated.into_iter().next() {
        Some((player, game)) => Err(WarehouseError::Repeated {
            columns: GAME_KEY_COLUMNS,
            key: vec![player, game],
        }),
        None => Ok(()),
    }
}

/// Deletes exactly the dates `t` has staged rows for, then copies the stage.
fn replace_dates_sql(
    wh: &BigQueryWarehouse,
    staging: &Staging,
    t: &TableDef,
    column: &str,
    lo: NaiveDate,
    hi: NaiveDate,
) -> String {
    // `column` is the pipeline file's validated identifier or a static name.
    format!(
        "DELETE FROM {target} AS t WHERE t.{column} BETWEEN {lo} AND {hi}
           AND t.{column} IN (SELECT s.{column} FROM {stage} AS s WHERE s.write_id = '{id}');\n",
        target = wh.table_name(t),
        stage = wh.names.stage(t),
        id = staging.id,
        lo = date_literal(lo),
        hi = date_literal(hi),
    ) + &staging.copy_sql(wh, t)
}
