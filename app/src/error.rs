//! Error policy for `app`: one serialisable enum crosses the wire. `BadInput` and
//! `NotFound` carry messages meant for the user (the server also sets HTTP 400 /
//! 404); `Internal` says a real fault happened and is logged on the server with
//! the full cause; `Transport` is the client failing to reach the server.
//!
//! A server function's error travels as text ([`ErrorText`]: the kind on the
//! first line, the message after it), readable with curl and read in the
//! browser without a JSON parser (which would be in the bundle for it alone).

use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
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

impl AppError {
    /// The variant's name: the first line of its [`ErrorText`].
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::BadInput(_) => "BadInput",
            AppError::NotFound(_) => "NotFound",
            AppError::Conflict(_) => "Conflict",
            AppError::Forbidden(_) => "Forbidden",
            AppError::Internal(_) => "Internal",
            AppError::Transport(_) => "Transport",
        }
    }

    /// The message, without the prefix `Display` adds to some kinds.
    pub fn message(&self) -> &str {
        match self {
            AppError::BadInput(m)
            | AppError::NotFound(m)
            | AppError::Conflict(m)
            | AppError::Forbidden(m)
            | AppError::Internal(m)
            | AppError::Transport(m) => m,
        }
    }

    /// The error as [`ErrorText`] writes it.
    pub fn to_text(&self) -> String {
        format!("{}\n{}", self.kind(), self.message())
    }

    /// Reads what [`AppError::to_text`] wrote; `None` for anything else.
    pub fn from_text(text: &str) -> Option<Self> {
        let (kind, message) = text.split_once('\n')?;
        let message = message.to_string();
        Some(match kind {
            "BadInput" => AppError::BadInput(message),
            "NotFound" => AppError::NotFound(message),
            "Conflict" => AppError::Conflict(message),
            "Forbidden" => AppError::Forbidden(message),
            "Internal" => AppError::Internal(message),
            "Transport" => AppError::Transport(message),
            _ => return None,
        })
    }
}

/// How a server function's error travels: [`AppError::to_text`].
pub struct ErrorText;

impl ContentType for ErrorText {
    const CONTENT_TYPE: &'static str = "text/plain; charset=utf-8";
}

impl FormatType for ErrorText {
    const FORMAT_TYPE: Format = Format::Text;
}

impl Encodes<AppError> for ErrorText {
    type Error = std::convert::Infallible;

    fn encode(error: &AppError) -> Result<Bytes, Self::Error> {
        Ok(Bytes::from(error.to_text()))
    }
}

impl Decodes<AppError> for ErrorText {
    type Error = String;

    fn decode(bytes: Bytes) -> Result<AppError, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(|e| e.to_string())?;
        AppError::from_text(text).ok_or_else(|| {
            format!(
                "not an error: {}",
                text.chars().take(200).collect::<String>()
            )
        })
    }
}

impl FromServerFnError for AppError {
    type Encoder = ErrorText;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_text() {
        let all = [
            AppError::BadInput("start: \"x\" is not YYYY-MM-DD\nsecond line".into()),
            AppError::NotFound("job j-1".into()),
            AppError::Conflict("running".into()),
            AppError::Forbidden("token".into()),
            AppError::Internal("disk".into()),
            AppError::Transport(String::new()),
        ];
        for e in all {
            let bytes = <ErrorText as Encodes<AppError>>::encode(&e).unwrap();
            assert_eq!(<ErrorText as Decodes<AppError>>::decode(bytes).unwrap(), e);
        }
        for bad in ["", "BadInput", "Teapot\nmessage", "{\"BadInput\":\"x\"}"] {
            assert_eq!(AppError::from_text(bad), None, "{bad:?}");
        }
        assert!(<ErrorText as Decodes<AppError>>::decode(Bytes::from_static(b"\xff\n")).is_err());
    }
}
