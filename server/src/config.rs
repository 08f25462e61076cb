//! Configuration: one typed struct, read once at start-up from `ROLLCALL_*`
//! environment variables and command-line flags (flags win). Secrets are
//! wrapped in [`Secret`], whose `Debug` prints `[redacted]`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

pub const DEFAULT_DB: &str = "data/rollcall.duckdb";

/// Where the data lives. Every subcommand takes these, with the same defaults.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Path of the embedded database file (created and migrated if missing).
    #[arg(long = "db", env = "ROLLCALL_DB", default_value = DEFAULT_DB, global = true)]
    pub db: PathBuf,
}

/// `rollcall serve` settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. Non-loopback addresses will require the operator
    /// token for mutations.
    #[arg(long, env = "ROLLCALL_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Directory holding the built site (`pkg/rollcall.js`, `.wasm`, `.css`).
    #[arg(long, env = "ROLLCALL_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Longest date range a request may ask for, in days.
    #[arg(long, env = "ROLLCALL_MAX_RANGE_DAYS", default_value_t = domain::DEFAULT_MAX_RANGE_DAYS)]
    pub max_range_days: i64,
    /// Token required for re-runs and cancels when listening on a non-loopback address.
    #[arg(long, env = "ROLLCALL_OPERATOR_TOKEN", hide_env_values = true)]
    pub operator_token: Option<Secret>,
}

/// A string that never shows up in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s: Secret = "hunter2".parse().unwrap();
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2");
    }
}
