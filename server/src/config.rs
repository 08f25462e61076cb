//! Configuration: one typed struct, [`Config`], read once at start-up from
//! `ROLLCALL_*` environment variables and command-line flags (flags win) and
//! handed to every subcommand; `serve` adds [`ServeArgs`]. Secrets are
//! wrapped in [`Secret`], whose `Debug` prints `[redacted]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::builder::TypedValueParser;
use clap::Args;
use domain::pipeline::Pipeline;

use crate::auth::identity::{self, AuthMode};
use crate::error::ServerError;

pub const DEFAULT_DB: &str = "data/rollcall.duckdb";

/// Which warehouse implementation serves every operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WarehouseKind {
    /// A local DuckDB file (`--db`).
    Embedded,
    /// Google BigQuery (`--project`, …).
    Bigquery,
}

/// How the BigQuery client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BigQueryAuth {
    /// Application Default Credentials.
    Adc,
    /// The service-account key file given with `--credentials`.
    KeyFile,
    /// No credentials (a local emulator at `--bigquery-url`).
    None,
}

/// Every subcommand's settings: where the data lives and what a request may ask.
#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Longest date range a request may ask for, in days (the dashboard,
    /// `validate`, `backfill`).
    #[arg(long, env = "ROLLCALL_MAX_RANGE_DAYS", default_value_t = domain::DEFAULT_MAX_RANGE_DAYS,
          global = true, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub max_range_days: i64,
    /// The pipeline file: the entity universe, the failure and run tables,
    /// the processors (default: the shipped NBA pipeline, `pipelines/nba.toml`).
    #[arg(long, env = "ROLLCALL_PIPELINE", global = true)]
    pub pipeline: Option<PathBuf>,
    /// The pipeline `pipeline` names, read and validated once at start-up
    /// ([`Config::load_pipeline`]); the stores are opened with it.
    #[arg(skip)]
    pub loaded: Option<Arc<Pipeline>>,
    /// The dashboard's address as its readers reach it: alerts link to
    /// drill-downs under it.
    #[arg(long, env = "ROLLCALL_PUBLIC_URL", default_value = "http://127.0.0.1:3000",
          global = true, value_parser = public_url)]
    pub public_url: String,
    /// Snapshots older than this many days are deleted when the next one
    /// is taken (0: kept until deleted by hand).
    #[arg(long, env = "ROLLCALL_SNAPSHOT_RETENTION_DAYS", default_value_t = crate::DEFAULT_SNAPSHOT_RETENTION_DAYS,
          global = true, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub snapshot_retention_days: u32,
}

/// `--public-url`: an http(s) URL without query or fragment.
fn public_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    let clean = !url.contains(['?', '#', ' ', '"', '<', '>']) && url.len() <= 200;
    if scheme_ok && clean && url.split("://").nth(1).is_some_and(|h| !h.is_empty()) {
        Ok(url.to_string())
    } else {
        Err("an http:// or https:// URL without query or fragment, e.g. https://rollcall.example.com".into())
    }
}

/// The most a pipeline file may hold: a few hundred lines are typical, and
/// `/dev/zero` must not be read until memory runs out.
pub const MAX_PIPELINE_BYTES: u64 = 1024 * 1024;

/// The pipeline file's text, refused past [`MAX_PIPELINE_BYTES`] (read no
/// further) or when it is not UTF-8.
fn read_pipeline_file(path: &std::path::Path, name: &str) -> Result<String, ServerError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(ServerError::io(format!(
        "cannot read the pipeline file {name}"
    )))?;
    let mut bytes = Vec::new();
    file.take(MAX_PIPELINE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ServerError::io(format!(
            "cannot read the pipeline file {name}"
        )))?;
    if bytes.len() as u64 > MAX_PIPELINE_BYTES {
        return Err(ServerError::Input(format!(
            "{name}: a pipeline file may hold at most {MAX_PIPELINE_BYTES} bytes"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|e| ServerError::Input(format!("{name}: not UTF-8 text ({e})")))
}

impl Config {
    /// Reads and validates the pipeline file, once, at start-up, before any
    /// store opens. A file error names its place as `FILE:LINE:COLUMN:
    /// message` (bad input, exit 2).
    pub fn load_pipeline(&mut self) -> Result<Arc<Pipeline>, ServerError> {
        let pipeline = match &self.pipeline {
            None => domain::pipeline::nba(),
            Some(path) => {
                let name = path.display().to_string();
                let text = read_pipeline_file(path, &name)?;
                let pipeline = Pipeline::parse(&text).map_err(|e| in_file(&name, e))?;
                // Commands run beside their pipeline file, wherever Rollcall starts.
                let directory = path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .map(|d| d.display().to_string())
                    .unwrap_or_default();
                pipeline.located_in(directory)
            }
        };
        let pipeline = Arc::new(pipeline);
        self.loaded = Some(Arc::clone(&pipeline));
        Ok(pipeline)
    }

    /// The pipeline read at start-up (the shipped one before that: tests).
    pub fn pipeline(&self) -> Arc<Pipeline> {
        self.loaded
            .clone()
            .unwrap_or_else(|| Arc::new(domain::pipeline::nba()))
    }

    /// `rollcall` with the options that chose this pipeline and store, as
    /// the user gave them, shell-quoted: a printed re-run or retry command
    /// runs as printed, on the same data. Secrets are never among them (the
    /// credentials file's path is not one).
    pub fn command_prefix(&self) -> String {
        let s = &self.store;
        let mut words: Vec<String> = vec!["rollcall".into()];
        let mut push = |flag: &str, value: String| {
            words.push(flag.into());
            words.push(value);
        };
        if let Some(p) = &self.pipeline {
            push("--pipeline", p.display().to_string());
        }
        match s.warehouse {
            WarehouseKind::Embedded => {
                if s.db.as_os_str() != DEFAULT_DB {
                    push("--db", s.db.display().to_string());
                }
            }
            WarehouseKind::Bigquery => {
                push("--warehouse", "bigquery".into());
                if let Some(project) = &s.project {
                    push("--project", project.clone());
                }
                if !s.dataset_prefix.is_empty() {
                    push("--dataset-prefix", s.dataset_prefix.clone());
                }
                if let Some(location) = &s.location {
                    push("--location", location.clone());
                }
                if let Some(url) = &s.bigquery_url {
                    push("--bigquery-url", url.clone());
                }
                match s.bq_auth {
                    BigQueryAuth::Adc => {}
                    BigQueryAuth::None => push("--bq-auth", "none".into()),
                    BigQueryAuth::KeyFile => push("--bq-auth", "key-file".into()),
                }
                if let Some(key) = &s.credentials {
                    push("--credentials", key.display().to_string());
                }
            }
        }
        words
            .iter()
            .map(|w| shlex::try_quote(w).map_or_else(|_| w.clone(), |q| q.into_owned()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn limits(&self) -> engine::Limits {
        engine::Limits {
            max_range_days: self.max_range_days,
        }
    }
}

/// Where the data lives. Every subcommand takes these, with the same defaults.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Warehouse to use.
    #[arg(
        long,
        value_enum,
        env = "ROLLCALL_WAREHOUSE",
        default_value = "embedded",
        global = true
    )]
    pub warehouse: WarehouseKind,
    /// Path of the embedded database file (created and migrated if missing).
    #[arg(long = "db", env = "ROLLCALL_DB", default_value = DEFAULT_DB, global = true)]
    pub db: PathBuf,
    /// DuckDB's memory limit for the embedded store (e.g. `2GB`).
    #[arg(
        long,
        env = "ROLLCALL_DUCKDB_MEMORY_LIMIT",
        default_value = "2GB",
        global = true
    )]
    pub duckdb_memory_limit: String,
    /// DuckDB worker threads for the embedded store.
    #[arg(long, env = "ROLLCALL_DUCKDB_THREADS", default_value_t = 2, global = true,
          value_parser = clap::value_parser!(u64).range(1..=256).map(|v| v as usize))]
    pub duckdb_threads: usize,
    /// Embedded-store operations running at once (each on its own connection).
    #[arg(long, env = "ROLLCALL_DUCKDB_CONNECTIONS", default_value_t = 8, global = true,
          value_parser = clap::value_parser!(u64).range(1..=256).map(|v| v as usize))]
    pub duckdb_connections: usize,
    /// Cells per write transaction on the embedded store: a job's
    /// checkpoint granularity (fewer = less work redone after a crash, more
    /// commits).
    #[arg(long, env = "ROLLCALL_DUCKDB_BATCH_CELLS", global = true,
          default_value_t = warehouse_embedded::EMBEDDED_BATCH_CELLS,
          value_parser = clap::value_parser!(u64).range(1..=10_000).map(|v| v as usize))]
    pub duckdb_batch_cells: usize,
    /// BigQuery project.
    #[arg(long, env = "ROLLCALL_BQ_PROJECT", global = true)]
    pub project: Option<String>,
    /// Prefix of every BigQuery dataset name (e.g. `staging_`).
    #[arg(
        long,
        env = "ROLLCALL_BQ_DATASET_PREFIX",
        default_value = "",
        global = true
    )]
    pub dataset_prefix: String,
    /// BigQuery location of created datasets (e.g. `US`).
    #[arg(long, env = "ROLLCALL_BQ_LOCATION", global = true)]
    pub location: Option<String>,
    /// BigQuery API base URL (an emulator's `http://127.0.0.1:9050/bigquery/v2`).
    #[arg(long, env = "ROLLCALL_BQ_URL", global = true)]
    pub bigquery_url: Option<String>,
    /// Seconds one BigQuery HTTP request may take before it is retried or fails.
    #[arg(long, env = "ROLLCALL_BQ_REQUEST_TIMEOUT", global = true, default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub bq_request_timeout: u64,
    /// Seconds one BigQuery job (query, load or transaction) may run before
    /// Rollcall stops waiting and reports it by id.
    #[arg(long, env = "ROLLCALL_BQ_JOB_DEADLINE", global = true, default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub bq_job_deadline: u64,
    /// Seconds one BigQuery request keeps retrying (429, 5xx, lost or cut
    /// replies), waits included; `Retry-After` is honoured.
    #[arg(long, env = "ROLLCALL_BQ_RETRY_TOTAL", global = true, default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub bq_retry_total: u64,
    /// How to authenticate to BigQuery.
    #[arg(
        long,
        value_enum,
        env = "ROLLCALL_BQ_AUTH",
        default_value = "adc",
        global = true
    )]
    pub bq_auth: BigQueryAuth,
    /// Service-account key file (with `--bq-auth key-file`).
    #[arg(long, env = "ROLLCALL_BQ_CREDENTIALS", global = true)]
    pub credentials: Option<PathBuf>,
    /// Open a store made with another pipeline and record this one as its
    /// pipeline (without it, such a store is refused: a forgotten
    /// `--pipeline` must not report on the wrong tables).
    #[arg(long, global = true)]
    pub adopt_pipeline: bool,
}

impl StoreArgs {
    /// The embedded store's resource limits.
    pub fn embedded_limits(&self) -> warehouse_embedded::EmbeddedLimits {
        warehouse_embedded::EmbeddedLimits {
            max_connections: self.duckdb_connections,
            memory_limit: self.duckdb_memory_limit.clone(),
            threads: self.duckdb_threads,
            batch_cells: self.duckdb_batch_cells,
            adopt_pipeline: self.adopt_pipeline,
        }
    }

    /// The BigQuery settings, checked (a project is required).
    pub fn bigquery(&self) -> Result<warehouse_bigquery::BigQueryConfig, ServerError> {
        let project = self.project.clone().ok_or_else(|| {
            ServerError::Input(
                "--warehouse bigquery needs --project (or ROLLCALL_BQ_PROJECT)".into(),
            )
        })?;
        let credentials = match self.bq_auth {
            BigQueryAuth::Adc => warehouse_bigquery::Credentials::ApplicationDefault,
            BigQueryAuth::None => warehouse_bigquery::Credentials::None,
            BigQueryAuth::KeyFile => {
                warehouse_bigquery::Credentials::KeyFile(self.credentials.clone().ok_or_else(
                    || ServerError::Input("--bq-auth key-file needs --credentials FILE".into()),
                )?)
            }
        };
        Ok(warehouse_bigquery::BigQueryConfig {
            project,
            dataset_prefix: self.dataset_prefix.clone(),
            location: self.location.clone(),
            base_url: self.bigquery_url.clone(),
            credentials,
            timeouts: warehouse_bigquery::Timeouts {
                request: std::time::Duration::from_secs(self.bq_request_timeout),
                job: std::time::Duration::from_secs(self.bq_job_deadline),
                retry_total: std::time::Duration::from_secs(self.bq_retry_total),
            },
            adopt_pipeline: self.adopt_pipeline,
        })
    }
}

/// `rollcall serve` settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. Non-loopback addresses will require the operator
    /// token for mutations.
    #[arg(long, env = "ROLLCALL_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Directory holding the built site (`pkg/rollcall.js`, `.wasm`, `.css`).
    /// Default: found beside the executable (see `server::site_root`).
    #[arg(long, env = "ROLLCALL_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
    /// Token required for re-runs and cancels when listening on a non-loopback
    /// address. Prefer `ROLLCALL_OPERATOR_TOKEN` or `--operator-token-file`:
    /// a flag's value shows in `ps` (the server warns).
    #[arg(long, env = "ROLLCALL_OPERATOR_TOKEN", hide_env_values = true)]
    pub operator_token: Option<Secret>,
    /// A file holding the operator token (its first line), so it never
    /// appears on a command line.
    #[arg(
        long,
        env = "ROLLCALL_OPERATOR_TOKEN_FILE",
        conflicts_with = "operator_token"
    )]
    pub operator_token_file: Option<PathBuf>,
    /// Host names the server answers to besides loopback and its bind
    /// address (comma list: what users type in the browser). Requests for any
    /// other `Host` are refused (no DNS rebinding).
    #[arg(long, env = "ROLLCALL_PUBLIC_HOST", value_delimiter = ',')]
    pub public_host: Vec<String>,
    /// A reverse proxy of yours sets `X-Forwarded-For`/`-Proto`; without it a
    /// forwarded request is never treated as local.
    #[arg(long, env = "ROLLCALL_TRUSTED_PROXY")]
    pub trusted_proxy: bool,
    /// How requests say who they are (issue [N] 2): `token` (the operator
    /// token only), `proxy` (an identity-aware proxy's email header, believed
    /// only from `--trusted-proxies`), `iap` (Google IAP's signed assertion).
    #[arg(long, env = "ROLLCALL_AUTH", value_enum, default_value_t = AuthMode::Token)]
    pub auth: AuthMode,
    /// With `--auth proxy`: the proxy's addresses or networks (comma list:
    /// `127.0.0.1`, `10.0.0.0/8`); the email header from anywhere else is
    /// refused.
    #[arg(long, env = "ROLLCALL_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Who may start, cancel and resume jobs and acknowledge gaps behind a
    /// proxy or IAP (comma list of addresses, or `@domain`); everyone else
    /// the proxy lets in may read.
    #[arg(long, env = "ROLLCALL_OPERATORS", value_delimiter = ',')]
    pub operators: Vec<String>,
    /// With `--auth iap`: the expected audience
    /// (`/projects/NUMBER/global/backendServices/ID`).
    #[arg(long, env = "ROLLCALL_IAP_AUDIENCE")]
    pub iap_audience: Option<String>,
    /// With `--auth iap`: where IAP's public keys are (a JWK set, fetched and
    /// cached an hour).
    #[arg(long, env = "ROLLCALL_IAP_KEYS_URL", default_value = identity::IAP_KEYS_URL)]
    pub iap_keys_url: String,
    /// With `--auth iap`: IAP's keys from a file instead (a JWK set).
    #[arg(long, env = "ROLLCALL_IAP_KEY_FILE")]
    pub iap_key_file: Option<PathBuf>,
    /// Most connections open at once (more wait in the listen backlog).
    #[arg(long, env = "ROLLCALL_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..=100_000).map(|v| v as usize))]
    pub max_connections: usize,
    /// Seconds a client may take to send a request's head (slowloris guard).
    #[arg(long, env = "ROLLCALL_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_timeout_secs: u64,
    /// Seconds a client may take to send a request's body (a 408 after).
    #[arg(long, env = "ROLLCALL_BODY_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub body_timeout_secs: u64,
    /// Seconds a cached view (grid, game dates, job list) may be reused when
    /// no write went through this server (other writers: BigQuery).
    #[arg(long, env = "ROLLCALL_CACHE_MAX_AGE", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub cache_max_age_secs: u64,
}

impl ServeArgs {
    /// The `--auth` settings, checked: a proxy needs its addresses, IAP its
    /// audience; a key file must be a JWK set.
    pub fn auth(&self) -> Result<identity::Auth, ServerError> {
        let operators = identity::Operators::parse(&self.operators);
        let mut auth = identity::Auth {
            mode: self.auth,
            operators,
            ..Default::default()
        };
        match self.auth {
            AuthMode::Token => {}
            AuthMode::Proxy => {
                auth.trusted =
                    identity::parse_networks(&self.trusted_proxies).map_err(ServerError::Input)?;
                if auth.trusted.is_empty() {
                    return Err(ServerError::Input(
                        "--auth proxy needs --trusted-proxies (ROLLCALL_TRUSTED_PROXIES): the \
                         addresses the proxy connects from"
                            .into(),
                    ));
                }
            }
            AuthMode::Iap => {
                let audience = self
                    .iap_audience
                    .as_deref()
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| {
                        ServerError::Input(
                            "--auth iap needs --iap-audience (ROLLCALL_IAP_AUDIENCE)".into(),
                        )
                    })?;
                let verifier = match &self.iap_key_file {
                    Some(path) => identity::IapVerifier::from_file(audience, path)
                        .map_err(ServerError::Input)?,
                    None => identity::IapVerifier::from_url(audience, &self.iap_keys_url),
                };
                auth.iap = Some(std::sync::Arc::new(verifier));
            }
        }
        Ok(auth)
    }

    /// The operator token: from `--operator-token-file`, else the flag or
    /// `ROLLCALL_OPERATOR_TOKEN`. An unreadable or empty file is bad input.
    pub fn operator_token(&self) -> Result<Option<Secret>, ServerError> {
        let Some(path) = &self.operator_token_file else {
            return Ok(self.operator_token.clone());
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            ServerError::Input(format!("--operator-token-file {}: {e}", path.display()))
        })?;
        let token = text.lines().next().unwrap_or_default().trim();
        if token.is_empty() {
            return Err(ServerError::Input(format!(
                "--operator-token-file {}: the file is empty",
                path.display()
            )));
        }
        Ok(Some(Secret(token.to_string())))
    }
}

/// Whether the operator token was given as a flag on the command line
/// (`args` as the process got them), where `ps` shows it to every user.
pub fn token_on_command_line(args: impl IntoIterator<Item = String>) -> bool {
    args.into_iter()
        .any(|a| a == "--operator-token" || a.starts_with("--operator-token="))
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

/// A pipeline file's error as `FILE:LINE:COLUMN: message` (bad input).
pub(crate) fn in_file(name: &str, e: domain::DomainError) -> ServerError {
    match e {
        domain::DomainError::BadPipeline {
            line,
            column,
            message,
        } => ServerError::Input(format!("{name}:{line}:{column}: {message}")),
        other => ServerError::Input(format!("{name}: {other}")),
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

    /// Issue [R] 10: the token can come from a file; a flag is noticed.
    #[test]
    fn auth_modes_refuse_what_they_cannot_check() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let auth = |args: &[&str]| {
            let mut all = vec!["serve"];
            all.extend(args);
            <Cli as clap::Parser>::try_parse_from(all)
                .map_err(|e| e.to_string())
                .and_then(|c| c.serve.auth().map_err(|e| e.to_string()))
        };
        assert_eq!(auth(&[]).unwrap().mode, AuthMode::Token);
        let e = auth(&["--auth", "proxy"]).unwrap_err();
        assert!(e.contains("--trusted-proxies"), "{e}");
        let e = auth(&["--auth", "proxy", "--trusted-proxies", "localhost"]).unwrap_err();
        assert!(e.contains("not an address"), "{e}");
        let ok = auth(&[
            "--auth",
            "proxy",
            "--trusted-proxies",
            "127.0.0.1,10.0.0.0/8",
        ])
        .unwrap();
        assert_eq!(ok.trusted.len(), 2);
        let e = auth(&["--auth", "iap"]).unwrap_err();
        assert!(e.contains("--iap-audience"), "{e}");
        let e = auth(&[
            "--auth",
            "iap",
            "--iap-audience",
            "a",
            "--iap-key-file",
            "/nonexistent",
        ])
        .unwrap_err();
        assert!(e.contains("--iap-key-file"), "{e}");
        assert!(auth(&["--auth", "kerberos"]).is_err());
    }

    #[test]
    fn the_operator_token_comes_from_a_file_and_a_flag_is_noticed() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let parse = |args: &[&str]| {
            let mut all = vec!["serve"];
            all.extend(args);
            <Cli as clap::Parser>::try_parse_from(all).map(|c| c.serve)
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret-token\n").unwrap();
        let args = parse(&["--operator-token-file", file.to_str().unwrap()]).unwrap();
        assert_eq!(
            args.operator_token().unwrap().unwrap().expose(),
            "s3cret-token"
        );
        std::fs::write(&file, "\n").unwrap();
        let e = args.operator_token().unwrap_err();
        assert!(e.is_input() && e.to_string().contains("is empty"), "{e}");
        let missing = parse(&["--operator-token-file", "/nonexistent/token"]).unwrap();
        assert!(missing.operator_token().unwrap_err().is_input());
        assert!(parse(&["--operator-token", "x", "--operator-token-file", "f"]).is_err());
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(token_on_command_line(args(&[
            "rollcall",
            "serve",
            "--operator-token",
            "x"
        ])));
        assert!(token_on_command_line(args(&[
            "rollcall",
            "serve",
            "--operator-token=x"
        ])));
        assert!(!token_on_command_line(args(&[
            "rollcall",
            "serve",
            "--operator-token-file",
            "f"
        ])));
    }

    /// Issue [Q] 5: printed commands carry the options that chose the
    /// pipeline and store, shell-quoted, and nothing else.
    #[test]
    fn printed_commands_start_with_the_options_given() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            config: Config,
        }
        let prefix = |args: &[&str]| {
            let mut all = vec!["rollcall"];
            all.extend(args);
            <Cli as clap::Parser>::try_parse_from(all)
                .unwrap()
                .config
                .command_prefix()
        };
        assert_eq!(prefix(&[]), "rollcall");
        assert_eq!(
            prefix(&["--db", "my store.duckdb", "--pipeline", "p/orders.toml"]),
            "rollcall --pipeline p/orders.toml --db 'my store.duckdb'"
        );
        assert_eq!(
            prefix(&[
                "--warehouse",
                "bigquery",
                "--project",
                "proj",
                "--dataset-prefix",
                "stg_",
                "--bigquery-url",
                "http://127.0.0.1:9050/bigquery/v2",
                "--bq-auth",
                "none",
                "--db",
                "ignored.duckdb",
            ]),
            "rollcall --warehouse bigquery --project proj --dataset-prefix stg_ \
             --bigquery-url http://127.0.0.1:9050/bigquery/v2 --bq-auth none"
        );
    }
}
