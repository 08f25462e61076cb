//! Error policy for `engine`: `Input` is the caller's fault (HTTP 400, CLI exit 2)
//! and carries a message safe to show; `Warehouse` is a storage fault (HTTP 500,
//! or 409 for `Conflict`; CLI exit 1) and keeps the backend's message for
//! operators; `NotFound` names a missing job (404); `Refused` is a request
//! that is valid but not possible in the current state, e.g. resuming a job
//! that succeeded (409); `Command` is a command processor that failed its
//! cell (timeout, exit status, output it may not print): it fails that cell
//! only, and its message goes on the run row; `Internal` is a bug in
//! Rollcall itself.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Input(#[from] domain::DomainError),
    #[error(transparent)]
    Warehouse(warehouse::WarehouseError),
    #[error("{0}")]
    NotFound(String),
    #[error("command: {0}")]
    Command(#[from] crate::runners::command::CommandError),
    #[error("{0}")]
    Refused(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// A store's `NotFound` is the engine's: both mean 404.
impl From<warehouse::WarehouseError> for EngineError {
    fn from(e: warehouse::WarehouseError) -> Self {
        match e {
            warehouse::WarehouseError::NotFound(what) => EngineError::NotFound(what),
            other => EngineError::Warehouse(other),
        }
    }
}

impl EngineError {
    pub fn is_input(&self) -> bool {
        matches!(self, EngineError::Input(_))
    }
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            EngineError::Refused(_)
                | EngineError::Warehouse(warehouse::WarehouseError::Conflict(_))
        )
    }
}
