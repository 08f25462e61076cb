//! Versioned schema migrations. Each migration runs once, in its own transaction,
//! and is recorded in `rollcall_meta.schema_migrations`. Add new ones at the end; never
//! edit one that has shipped.

use duckdb::Connection;
use warehouse::{Result, WarehouseError};

use crate::{one_line, query_err};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "job_cells",
        sql: include_str!("../migrations/0002_job_cells.sql"),
    },
    Migration {
        version: 3,
        name: "job_snapshot",
        sql: include_str!("../migrations/0003_job_snapshot.sql"),
    },
    Migration {
        version: 4,
        name: "job_leases",
        sql: include_str!("../migrations/0004_job_leases.sql"),
    },
    Migration {
        version: 5,
        name: "pipeline_record",
        sql: include_str!("../migrations/0005_pipeline_record.sql"),
    },
    Migration {
        version: 6,
        name: "watch",
        sql: include_str!("../migrations/0006_watch.sql"),
    },
    Migration {
        version: 7,
        name: "evaluation_names",
        sql: include_str!("../migrations/0007_evaluation_names.sql"),
    },
    Migration {
        version: 8,
        name: "acknowledgements",
        sql: include_str!("../migrations/0008_acknowledgements.sql"),
    },
    Migration {
        version: 9,
        name: "snapshots",
        sql: include_str!("../migrations/0009_snapshots.sql"),
    },
];

pub const LATEST_SCHEMA_VERSION: i64 = 9;

/// Brings the database to the latest schema; returns the schema version.
/// Refuses a database that has tables but was not created by Rollcall, so a
/// mistyped `--db` never scribbles into someone else's file.
pub(crate) fn migrate(conn: &Connection, location: &str) -> Result<i64> {
    let has_ledger: i64 = conn
        .query_row(
            "SELECT count(*) FROM information_schema.tables
             WHERE table_schema = 'rollcall_meta' AND table_name = 'schema_migrations'",
            [],
            |r| r.get(0),
        )
        .map_err(query_err)?;
    if has_ledger == 0 {
        let foreign_tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM information_schema.tables
                 WHERE table_catalog = current_database()",
                [],
                |r| r.get(0),
            )
            .map_err(query_err)?;
        if foreign_tables > 0 {
            return Err(WarehouseError::NotRollcall {
                location: location.to_string(),
                reason: format!(
                    "it has {foreign_tables} tables but no rollcall_meta.schema_migrations"
                ),
            });
        }
        conn.execute_batch(
            "CREATE SCHEMA IF NOT EXISTS rollcall_meta;
             CREATE TABLE IF NOT EXISTS rollcall_meta.schema_migrations (
                 version BIGINT PRIMARY KEY,
                 name VARCHAR NOT NULL,
                 applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp
             );",
        )
        .map_err(|e| open_err(location, e))?;
    }
    let current: i64 = conn
        .query_row(
            "SELECT coalesce(max(version), 0) FROM rollcall_meta.schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(query_err)?;
    if current > LATEST_SCHEMA_VERSION {
        return Err(WarehouseError::SchemaTooNew {
            found: current,
            supported: LATEST_SCHEMA_VERSION,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let sql = format!(
            "BEGIN TRANSACTION;\n{}\nINSERT INTO rollcall_meta.schema_migrations (version, name) VALUES ({}, '{}');\nCOMMIT;",
            m.sql, m.version, m.name
        );
        if let Err(e) = conn.execute_batch(&sql) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(WarehouseError::Migration {
                version: m.version,
                name: m.name.to_string(),
                message: one_line(&e.to_string()),
            });
        }
    }
    Ok(LATEST_SCHEMA_VERSION)
}

fn open_err(location: &str, e: duckdb::Error) -> WarehouseError {
    WarehouseError::Open {
        location: location.to_string(),
        message: one_line(&e.to_string()),
    }
}
