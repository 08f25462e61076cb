//! Error policy for the `rollcall` binary (this crate): one enum, [`ServerError`],
//! for everything the binary's own code can fail with — subcommands, plain
//! HTTP routes (exports), the client of a running server, benchmarks.
//!
//! - `Input` and an engine input error are the caller's fault: the message is
//!   safe to show and names the parameter; CLI exit 2, HTTP 400; nothing was
//!   written.
//! - An engine error maps to HTTP status by the one rule the server
//!   functions use too ([`app::error::status_of`]): 400 / 404 / 409 / 500.
//! - Everything else is a fault (CLI exit 1, HTTP 500, logged with its
//!   cause); messages keep the cause an operator needs.
//!
//! `anyhow` is not used anywhere: every error the binary reports is one of these.

use std::process::ExitCode;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServerError {
    /// Bad input from the command line or a request.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    #[error(transparent)]
    Warehouse(#[from] warehouse::WarehouseError),
    /// A running server (`remote`) could not do what was asked.
    #[error("the server at {addr}: {message}")]
    Remote { addr: String, message: String },
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot draw the heatmap: {0}")]
    Draw(String),
    #[error("cannot encode the image: {0}")]
    Encode(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// Anything else, with what was being done (benchmarks, start-up).
    #[error("{0}")]
    Failed(String),
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;

/// A domain rule refused a value the binary built itself (benchmarks).
impl From<domain::DomainError> for ServerError {
    fn from(e: domain::DomainError) -> Self {
        ServerError::Engine(engine::EngineError::Input(e))
    }
}

/// A bare I/O error (sockets, temp dirs); paths are named with [`ServerError::io`].
impl From<std::io::Error> for ServerError {
    fn from(source: std::io::Error) -> Self {
        ServerError::Io {
            what: "I/O".into(),
            source,
        }
    }
}

impl ServerError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| ServerError::Io { what, source }
    }

    /// A fault while doing `what`.
    pub fn failed(what: &str, e: impl std::fmt::Display) -> Self {
        ServerError::Failed(format!("{what}: {e}"))
    }

    pub fn is_input(&self) -> bool {
        match self {
            ServerError::Input(_) => true,
            ServerError::Engine(e) => e.is_input(),
            ServerError::Warehouse(warehouse::WarehouseError::OtherPipeline { .. }) => true,
            _ => false,
        }
    }

    /// The process exit status: 2 for bad input (nothing was written), 1
    /// for a fault.
    pub fn exit_status(&self) -> u8 {
        if self.is_input() {
            2
        } else {
            1
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit_status())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::Input(_) => StatusCode::BAD_REQUEST,
            ServerError::Engine(e) => app::error::status_of(e),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Plain routes answer with the status and the message as text.
impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        (status, format!("{self}\n")).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_exit_2_and_400_faults_are_exit_1_and_500() {
        let input = ServerError::Input("bad --start-date".into());
        assert_eq!(input.exit_status(), 2);
        assert_eq!(input.status(), StatusCode::BAD_REQUEST);
        let engine_input = ServerError::from(engine::EngineError::Input(
            domain::DomainError::MalformedDate {
                field: "start",
                value: "x".into(),
            },
        ));
        assert_eq!(engine_input.exit_status(), 2);
        assert_eq!(engine_input.status(), StatusCode::BAD_REQUEST);
        let missing = ServerError::from(engine::EngineError::NotFound("no job j".into()));
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let refused = ServerError::from(engine::EngineError::Refused("done".into()));
        assert_eq!(refused.status(), StatusCode::CONFLICT);
        let fault = ServerError::Draw("no font".into());
        assert_eq!(fault.exit_status(), 1);
        assert_eq!(fault.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
