use serde::{Deserialize, Serialize};

pub use domain::report::{GameDateSummary, TableCount};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarehouseStatus {
    /// `embedded` or `bigquery`.
    pub backend: String,
    /// A file path or a project id; never a credential.
    pub location: String,
    pub schema_version: i64,
}
