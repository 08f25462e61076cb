//! Creating and checking the store's datasets and tables over the network.

use super::*;

/// The tables of `dataset` (every page), or `None` if the dataset is missing.
async fn list_tables(
    wh: &crate::BigQueryWarehouse,
    dataset: &str,
) -> warehouse::Result<Option<std::collections::BTreeSet<String>>> {
    use gcp_bigquery_client::table::ListOptions;
    let mut names = std::collections::BTreeSet::new();
    let mut page: Option<String> = None;
    loop {
        let mut options = ListOptions::default().max_results(1000);
        if let Some(token) = page.take() {
            options = options.page_token(token);
        }
        let list = match wh
            .bq
            .client
            .table()
            .list(&wh.bq.project, dataset, options)
            .await
        {
            Ok(list) => list,
            Err(e) if crate::client::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(crate::client::bq_error(e)),
        };
        for t in list.tables.unwrap_or_default() {
            names.insert(t.table_reference.table_id);
        }
        match list.next_page_token {
            Some(token) if !token.is_empty() => page = Some(token),
            _ => return Ok(Some(names)),
        }
    }
}

/// Creates what is missing: one table listing per dataset (six calls when
/// everything exists), then a dataset or `CREATE TABLE` only where needed.
pub(crate) async fn ensure(
    wh: &crate::BigQueryWarehouse,
    location: Option<&str>,
    adopt_pipeline: bool,
) -> warehouse::Result<()> {
    let mut existing = std::collections::BTreeMap::new();
    for ds in wh.tables.datasets() {
        let id = wh.names.dataset(ds);
        // A dataset without tables may be missing: the emulator lists a
        // missing dataset as empty (BigQuery answers 404), so create it then;
        // "already exists" is fine.
        let tables = match list_tables(wh, &id).await? {
            Some(tables) if !tables.is_empty() => tables,
            listed => {
                let mut dataset =
                    gcp_bigquery_client::model::dataset::Dataset::new(&wh.bq.project, &id);
                if let Some(loc) = location {
                    dataset = dataset.location(loc);
                }
                if let Err(e) = wh.bq.client.dataset().create(dataset).await {
                    let exists = wh
                        .bq
                        .client
                        .dataset()
                        .get(&wh.bq.project, &id)
                        .await
                        .is_ok();
                    if !exists {
                        return Err(crate::client::bq_error(e));
                    }
                }
                listed.unwrap_or_default()
            }
        };
        existing.insert(ds, tables);
    }
    let has = |ds: &str, name: &str| existing.get(ds).is_some_and(|t| t.contains(name));
    // Before any of the pipeline's tables is created.
    let recorded = if has(PIPELINE_RECORD.dataset, PIPELINE_RECORD.name) {
        let rows = wh
            .bq
            .query(
                &format!(
                    "SELECT shape FROM {} ORDER BY recorded_at DESC LIMIT 1",
                    wh.names.of(&PIPELINE_RECORD)
                ),
                vec![],
            )
            .await?
            .rows;
        rows.first()
            .and_then(|r| r.first())
            .and_then(crate::client::text)
    } else {
        None
    };
    let location_name = format!("bigquery:{}/{}*", wh.bq.project, wh.names.prefix);
    let grown = warehouse::record::admit(
        recorded.as_deref(),
        &wh.pipeline,
        adopt_pipeline,
        &location_name,
    )?;
    check_pipeline_columns(wh, &grown).await?;
    // A store made before cells kept their names by key has their table
    // and not the lists' (made below, after the column: a crash between
    // the two adds the column again, which is a no-op). No extra call when
    // both exist.
    if has(EVALUATION_CELLS.dataset, EVALUATION_CELLS.name)
        && !has(EVALUATION_NAMES.dataset, EVALUATION_NAMES.name)
    {
        add_columns(wh, &EVALUATION_CELLS, &[&"names_key STRING".to_string()]).await?;
    }
    for t in wh.tables.all() {
        if !has(t.dataset, t.name) {
            wh.bq.query(&wh.names.create_table(t), vec![]).await?;
            if t.name == JOB_LOCK.name {
                wh.bq
                    .query(
                        &format!(
                            "INSERT INTO {lock} (name, taken_at)
                             SELECT 'jobs', CURRENT_TIMESTAMP() FROM UNNEST([1])
                             WHERE NOT EXISTS (SELECT 1 FROM {lock})",
                            lock = wh.names.of(t)
                        ),
                        vec![],
                    )
                    .await?;
            }
        }
        if t.staged && !has(STAGE_DATASET, &stage_name(t)) {
            wh.bq.query(&wh.names.create_stage(t), vec![]).await?;
        }
    }
    let shape = warehouse::record::recorded(&wh.pipeline);
    if recorded.as_deref() != Some(shape.as_str()) {
        record_pipeline(wh, shape).await?;
    }
    Ok(())
}

/// Records the pipeline: the new row first, then the others go, so a
/// process stopped in between leaves the newest row to count.
async fn record_pipeline(wh: &crate::BigQueryWarehouse, shape: String) -> warehouse::Result<()> {
    use crate::client::{param, Param};
    let table = wh.names.of(&PIPELINE_RECORD);
    wh.bq
        .query(
            &format!(
                "INSERT INTO {table} (shape, recorded_at)
                 SELECT @shape, CURRENT_TIMESTAMP() FROM UNNEST([1])
                 WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE shape = @shape)"
            ),
            vec![param("shape", Param::Str(Some(shape.clone())))],
        )
        .await?;
    wh.bq
        .query(
            &format!("DELETE FROM {table} WHERE shape <> @shape"),
            vec![param("shape", Param::Str(Some(shape)))],
        )
        .await?;
    Ok(())
}

/// Refuses a pipeline table that already exists without the columns
/// Rollcall needs, naming both lists (what the embedded store checks at
/// open too): a command's table must be exactly its declaration; an
/// observed table or a universe of the pipeline's own (someone else's)
/// must have the declared columns. One `tables.get` per pipeline table, all
/// at once (not the listing: it may lag a table just replaced).
async fn check_pipeline_columns(
    wh: &crate::BigQueryWarehouse,
    grown: &warehouse::record::Grown,
) -> warehouse::Result<()> {
    // (table, exactly these columns, grows with its declaration, who needs it)
    let mut checks: Vec<(&'static TableDef, bool, bool, String)> = Vec::new();
    let tables = &wh.tables;
    if let Some(u) = tables.universe {
        checks.push((u, false, false, "the universe".into()));
    }
    // The docs/DESIGN.md §2 failure and run tables are this store's own schema; another
    // pipeline's must be exactly their columns.
    for (t, declared, needed_by) in [
        (
            tables.failures,
            warehouse::sql::FAILURES,
            "[tables] failures",
        ),
        (tables.runs, warehouse::sql::RUNS, "[tables] runs"),
    ] {
        if format!("{}.{}", t.dataset, t.name) != declared {
            checks.push((t, true, false, needed_by.into()));
        }
    }
    for (id, t) in &tables.outputs {
        // A command's table (staged) is exactly its declaration, and grows with it.
        checks.push((
            t,
            t.staged,
            t.staged,
            format!("processor {}", wh.pipeline.code(*id)),
        ));
    }
    let mut gets = tokio::task::JoinSet::new();
    for (i, (t, _, _, _)) in checks.iter().enumerate() {
        let client = std::sync::Arc::clone(&wh.bq.client);
        let (project, dataset, name) = (
            wh.bq.project.clone(),
            wh.names.dataset(t.dataset),
            t.name.to_string(),
        );
        gets.spawn(async move {
            let got = client.table().get(&project, &dataset, &name, None).await;
            (i, got)
        });
    }
    while let Some(done) = gets.join_next().await {
        let (i, got) = done.map_err(|e| warehouse::WarehouseError::Query(e.to_string()))?;
        let table = match got {
            Ok(table) => table,
            // Missing: created below, as declared.
            Err(e) if crate::client::is_not_found(&e) => continue,
            Err(e) => return Err(crate::client::bq_error(e)),
        };
        let (t, exact, grows, needed_by) = &checks[i];
        let mut found: Vec<String> = table
            .schema
            .fields
            .unwrap_or_default()
            .iter()
            .map(|f| format!("{} {}", f.name.to_lowercase(), field_type(&f.r#type)))
            .collect();
        let wanted: Vec<String> = t
            .columns
            .iter()
            .map(|(c, ty)| format!("{} {}", c.to_lowercase(), ty.sql()))
            .collect();
        // A command's declaration that gained (nullable) columns the
        // pipeline record proves new: they are added, here and to the
        // staging twin. Writes name their columns, so their order in the
        // table does not matter.
        if *grows && wanted.iter().any(|w| !found.contains(w)) {
            // Columns added by SQL may be missing from the table's metadata
            // for a while (and on the emulator, for good): what a query sees
            // of a column added earlier counts.
            let live = live_columns(wh, t).await?;
            for w in &wanted {
                let name = w.split_whitespace().next().unwrap_or_default();
                if !found.contains(w) && live.iter().any(|c| c.eq_ignore_ascii_case(name)) {
                    found.push(w.clone());
                }
            }
        }
        let missing: Vec<&String> = wanted.iter().filter(|w| !found.contains(w)).collect();
        let declared = format!("{}.{}", t.dataset, t.name);
        let only_new = missing.iter().all(|m| {
            grown.iter().any(|(table, c)| {
                table.eq_ignore_ascii_case(&declared)
                    && m.split_whitespace().next() == Some(&c.to_lowercase())
            })
        });
        if *grows && !missing.is_empty() && only_new && found.iter().all(|f| wanted.contains(f)) {
            add_columns(wh, t, &missing).await?;
            continue;
        }
        let fits = if *exact {
            found.len() == wanted.len() && found.iter().all(|f| wanted.contains(f))
        } else {
            wanted.iter().all(|w| found.contains(w))
        };
        if !fits {
            return Err(warehouse::WarehouseError::Open {
                location: format!("bigquery:{}", wh.bq.project),
                message: format!(
                    "{}.{} has columns ({}), but {needed_by} needs ({})",
                    t.dataset,
                    t.name,
                    found.join(", "),
                    wanted.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The columns a query of `t` sees (none of its rows is read).
async fn live_columns(
    wh: &crate::BigQueryWarehouse,
    t: &TableDef,
) -> warehouse::Result<Vec<String>> {
    Ok(wh
        .bq
        .query(&format!("SELECT * FROM {} LIMIT 0", wh.names.of(t)), vec![])
        .await?
        .columns)
}

/// Adds `columns` ("name TYPE") to `t` and to its staging twin.
async fn add_columns(
    wh: &crate::BigQueryWarehouse,
    t: &TableDef,
    columns: &[&String],
) -> warehouse::Result<()> {
    // One column per statement (the emulator takes no more).
    for c in columns {
        for table in [wh.names.of(t), wh.names.stage(t)] {
            wh.bq
                .query(
                    &format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {c}"),
                    vec![],
                )
                .await?;
        }
    }
    tracing::info!(table = t.name, "added the pipeline's new columns");
    Ok(())
}

/// A column type as `Ty::sql` spells it (BigQuery answers either legacy or
/// standard names).
fn field_type(t: &gcp_bigquery_client::model::field_type::FieldType) -> &'static str {
    use gcp_bigquery_client::model::field_type::FieldType as F;
    match t {
        F::String => "STRING",
        F::Integer | F::Int64 => "INT64",
        F::Float | F::Float64 => "FLOAT64",
        F::Boolean | F::Bool => "BOOL",
        F::Date => "DATE",
        F::Timestamp => "TIMESTAMP",
        _ => "OTHER",
    }
}
