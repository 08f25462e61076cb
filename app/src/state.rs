use std::sync::Arc;

use warehouse::Warehouse;

/// What every server function gets from context: the warehouse chosen at
/// start-up and the configured limits.
#[derive(Clone)]
pub struct ServerState {
    pub warehouse: Arc<dyn Warehouse>,
    pub limits: engine::Limits,
}
