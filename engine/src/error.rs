//! Error policy for `engine`: `Input` is the caller's fault (HTTP 400, CLI exit 2)
//! and carries a message safe to show; `Warehouse` is a storage fault (HTTP 500 or
//! 409 for conflicts, CLI exit 1) and keeps the backend's message for operators.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Input(#[from] domain::DomainError),
    #[error(transparent)]
    Warehouse(#[from] warehouse::WarehouseError),
}

impl EngineError {
    pub fn is_input(&self) -> bool {
        matches!(self, EngineError::Input(_))
    }
}
