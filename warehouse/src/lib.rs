//! The `Warehouse` trait: the only way any Rollcall component reaches data.
//! Implementations live in their own crates (`warehouse_embedded`, later BigQuery)
//! and are chosen once at start-up as an `Arc<dyn Warehouse>`.

mod error;
mod types;

pub use error::WarehouseError;
pub use types::*;

use async_trait::async_trait;
use domain::DateRange;

pub type Result<T> = std::result::Result<T, WarehouseError>;

#[async_trait]
pub trait Warehouse: Send + Sync + 'static {
    /// Which backend this is and whether it answers.
    async fn status(&self) -> Result<WarehouseStatus>;

    /// Per game date in the range: games, box-score rows and expected players
    /// (active, with minutes or shot attempts — DESIGN §1).
    async fn game_dates(&self, range: DateRange) -> Result<Vec<GameDateSummary>>;

    /// Row counts of every Rollcall table within the range (by each table's date column).
    async fn table_counts(&self, range: DateRange) -> Result<Vec<TableCount>>;
}
