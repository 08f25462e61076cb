//! The pipeline's own tables: created when missing, checked when present.

use duckdb::{params, Connection};
use warehouse::sql::{self, Dialect};
use warehouse::{Result, WarehouseError};

use crate::query_err;

/// Creates the tables of the pipeline's command and observed
/// processors when missing (`sql::pipeline_table`), and refuses one
/// whose columns do not fit, naming both lists: a command's table must be
/// exactly its declaration; an observed table (someone else's) must have the
/// entity and date columns.
pub(crate) fn create_pipeline_tables(
    conn: &Connection,
    d: &Dialect,
    location: &str,
    grown: &warehouse::record::Grown,
) -> Result<()> {
    let pipeline = d.pipeline();
    let universe = &pipeline.universe;
    if let Some(columns) = sql::universe_table_columns(universe) {
        // Someone else's table may have more columns; it must have these.
        ensure_table(
            conn,
            d,
            location,
            &universe.table,
            &columns,
            Fit::Contains,
            "the universe",
        )?;
    }
    // The docs/DESIGN.md §2 failure and run tables come with the migrations; another
    // pipeline's are created here and must be exactly these columns.
    for (table, columns, needed_by) in [
        (
            pipeline.failures_table.as_str(),
            &sql::FAILURE_COLUMNS[..],
            "[tables] failures",
        ),
        (
            pipeline.runs_table.as_str(),
            &sql::RUN_COLUMNS[..],
            "[tables] runs",
        ),
    ] {
        if table != sql::FAILURES && table != sql::RUNS {
            ensure_table(conn, d, location, table, columns, Fit::Exactly, needed_by)?;
        }
    }
    for spec in &pipeline.processors {
        let Some(own) = sql::pipeline_table(spec) else {
            continue;
        };
        ensure_table(
            conn,
            d,
            location,
            &spec.output_table,
            &own.columns,
            // A command's table is exactly its declaration, and gains the
            // columns the pipeline record shows it was declared since.
            if own.exact {
                Fit::ExactlyOrGrown(
                    grown
                        .iter()
                        .filter(|(t, _)| t.eq_ignore_ascii_case(&spec.output_table))
                        .map(|(_, c)| c.as_str())
                        .collect(),
                )
            } else {
                Fit::Contains
            },
            &format!("processor {}", spec.code),
        )?;
    }
    Ok(())
}

/// How an existing table must fit its declared columns.
enum Fit<'a> {
    /// It has them, and maybe more (someone else's table).
    Contains,
    /// Exactly them, in order.
    Exactly,
    /// Exactly them, or all but these newly declared ones, to be added.
    ExactlyOrGrown(Vec<&'a str>),
}

/// Creates `name` with `columns` when missing; refuses an existing table
/// that does not `fit` them — except a table
/// whose declaration only gained columns (a command's new, nullable
/// column), which is rebuilt with them, in declared order (the appenders
/// write by position).
fn ensure_table(
    conn: &Connection,
    d: &Dialect,
    location: &str,
    name: &str,
    columns: &[(&str, sql::ColumnKind)],
    fit: Fit<'_>,
    needed_by: &str,
) -> Result<()> {
    let (schema, table) = sql::dataset_and_table(name);
    // Names come from the validated pipeline file (identifiers only).
    let defs: Vec<String> = columns
        .iter()
        .map(|(name, kind)| format!("{name} {}", d.type_name(*kind)))
        .collect();
    conn.execute_batch(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {name} ({});",
        defs.join(", ")
    ))
    .map_err(query_err)?;
    let mut stmt = conn
        .prepare(
            "SELECT column_name, data_type FROM information_schema.columns
             WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        )
        .map_err(query_err)?;
    let found: Vec<String> = stmt
        .query_map(params![schema, table], |r| {
            Ok(format!("{} {}", r.get::<_, String>(0)?, r.get::<_, String>(1)?).to_lowercase())
        })
        .map_err(query_err)?
        .collect::<duckdb::Result<_>>()
        .map_err(query_err)?;
    let wanted: Vec<String> = defs.iter().map(|f| f.to_lowercase()).collect();
    if let Fit::ExactlyOrGrown(new) = &fit {
        let missing: Vec<&String> = wanted.iter().filter(|w| !found.contains(w)).collect();
        let only_new = missing.iter().all(|m| {
            new.iter()
                .any(|c| m.split_whitespace().next() == Some(&c.to_lowercase()))
        });
        if !missing.is_empty() && only_new && found.iter().all(|f| wanted.contains(f)) {
            return add_columns(conn, name, &defs, &found);
        }
    }
    let fits = match fit {
        Fit::Exactly | Fit::ExactlyOrGrown(_) => found == wanted,
        Fit::Contains => wanted.iter().all(|w| found.contains(w)),
    };
    if !fits {
        return Err(WarehouseError::Open {
            location: location.to_string(),
            message: format!(
                "{name} has columns ({}), but {needed_by} needs ({})",
                found.join(", "),
                defs.join(", ")
            ),
        });
    }
    Ok(())
}

/// Rebuilds `name` as `defs` (a superset of its columns `found`), its rows
/// kept and the new columns null, in one transaction.
fn add_columns(conn: &Connection, name: &str, defs: &[String], found: &[String]) -> Result<()> {
    let (schema, table) = sql::dataset_and_table(name);
    let kept = found
        .iter()
        .filter_map(|f| f.split_whitespace().next())
        .collect::<Vec<_>>()
        .join(", ");
    let grown = format!("{schema}.{table}__grown");
    let script = format!(
        "BEGIN TRANSACTION;
         CREATE TABLE {grown} ({defs});
         INSERT INTO {grown} ({kept}) SELECT {kept} FROM {name};
         DROP TABLE {name};
         ALTER TABLE {grown} RENAME TO {table};
         COMMIT;",
        defs = defs.join(", ")
    );
    if let Err(e) = conn.execute_batch(&script) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(query_err(e));
    }
    tracing::info!(table = name, "added the pipeline's new columns");
    Ok(())
}
