//! Error policy for `app`: one serialisable enum crosses the wire. `BadInput` and
//! `NotFound` carry messages meant for the user (the server also sets HTTP 400 /
//! 404); `Internal` says a real fault happened and is logged on the server with
//! the full cause; `Transport` is the client failing to reach the server.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum AppError {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    NotFound(String),
    /// Valid, but not possible now (a running job overlaps, a finished job
    /// cannot be cancelled) — HTTP 409.
    #[error("{0}")]
    Conflict(String),
    /// Missing or wrong operator token, or a cross-origin request — HTTP 403.
    #[error("{0}")]
    Forbidden(String),
    #[error("server error: {0}")]
    Internal(String),
    #[error("request failed: {0}")]
    Transport(String),
}

impl AppError {
    /// A 404 (the HTTP status is set when called on the server).
    pub fn not_found(message: impl Into<String>) -> Self {
        #[cfg(feature = "ssr")]
        if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(http::StatusCode::NOT_FOUND);
        }
        AppError::NotFound(message.into())
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) => AppError::BadInput(m),
            other => AppError::Transport(other.to_string()),
        }
    }
}

/// The HTTP status of an operation's error: the one mapping, used by server
/// functions (below) and by the server's plain routes alike.
#[cfg(feature = "ssr")]
pub fn status_of(e: &engine::EngineError) -> http::StatusCode {
    use http::StatusCode;
    if e.is_input() {
        StatusCode::BAD_REQUEST
    } else if matches!(e, engine::EngineError::NotFound(_)) {
        StatusCode::NOT_FOUND
    } else if e.is_conflict() {
        StatusCode::CONFLICT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// Maps an operation's error and sets the HTTP status of the response
/// (also of a server-rendered page that called the function).
#[cfg(feature = "ssr")]
impl From<engine::EngineError> for AppError {
    fn from(e: engine::EngineError) -> Self {
        use http::StatusCode;
        let status = status_of(&e);
        let err = match status {
            StatusCode::BAD_REQUEST => AppError::BadInput(e.to_string()),
            StatusCode::NOT_FOUND => AppError::NotFound(e.to_string()),
            StatusCode::CONFLICT => AppError::Conflict(e.to_string()),
            _ => {
                tracing::error!(error = %e, "operation failed");
                AppError::Internal(e.to_string())
            }
        };
        if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(status);
        }
        err
    }
}
