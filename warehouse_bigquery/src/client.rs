//! The one way this crate talks to BigQuery: `jobs.query` with named
//! parameters, every page of the result, errors checked in the body (the
//! emulator answers SQL errors with HTTP 200), and bounded retries with
//! exponential backoff on 429, 5xx and transport timeouts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::model::get_query_results_parameters::GetQueryResultsParameters;
use gcp_bigquery_client::model::query_parameter::QueryParameter;
use gcp_bigquery_client::model::query_parameter_type::QueryParameterType;
use gcp_bigquery_client::model::query_parameter_type_struct_types::QueryParameterTypeStructTypes;
use gcp_bigquery_client::model::query_parameter_value::QueryParameterValue;
use gcp_bigquery_client::model::query_request::QueryRequest;
use gcp_bigquery_client::model::table_row::TableRow;
use gcp_bigquery_client::Client;
use serde_json::Value;
use warehouse::{Result, WarehouseError};

/// Attempts per request (the first try included) and the total time budget.
const MAX_ATTEMPTS: u32 = 5;
const RETRY_BUDGET: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub(crate) struct Bq {
    pub client: Arc<Client>,
    pub project: String,
    pub location: Option<String>,
}

/// Result rows as JSON values, one `Vec` per row in column order.
pub(crate) struct Rows {
    pub rows: Vec<Vec<Value>>,
    /// Rows changed by a DML statement.
    pub affected: i64,
}

impl Bq {
    /// Runs one statement and returns every row of every page.
    pub async fn query(&self, sql: &str, params: Vec<QueryParameter>) -> Result<Rows> {
        let mut request = QueryRequest::new(sql);
        request.use_legacy_sql = false;
        request.location = self.location.clone();
        if !params.is_empty() {
            request.parameter_mode = Some("NAMED".into());
            request.query_parameters = Some(params);
        }
        let response = self
            .retrying(|| self.client.job().query(&self.project, request.clone()))
            .await?;
        check_errors(response.errors.as_deref())?;
        let affected = response
            .num_dml_affected_rows
            .as_deref()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let mut rows = Vec::new();
        collect(&mut rows, response.rows);
        let job_id = response.job_reference.and_then(|j| j.job_id);
        let mut page_token = response.page_token;
        let mut complete = response.job_complete.unwrap_or(true);
        // Further pages (or the rest of a query that did not finish in time).
        while let (Some(job_id), true) = (&job_id, page_token.is_some() || !complete) {
            let params = GetQueryResultsParameters {
                page_token: page_token.clone(),
                location: self.location.clone(),
                ..Default::default()
            };
            let page = self
                .retrying(|| {
                    self.client
                        .job()
                        .get_query_results(&self.project, job_id, params.clone())
                })
                .await?;
            check_errors(page.errors.as_deref())?;
            complete = page.job_complete.unwrap_or(true);
            if complete {
                collect(&mut rows, page.rows);
            }
            page_token = page.page_token;
            if !complete {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(Rows { rows, affected })
    }

    async fn retrying<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, BQError>>,
    {
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e)
                    if attempt < MAX_ATTEMPTS
                        && retryable(&e)
                        && started.elapsed() + delay < RETRY_BUDGET =>
                {
                    tracing::warn!(attempt, error = %e, "BigQuery request failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(bq_error(e)),
            }
        }
    }
}

fn collect(out: &mut Vec<Vec<Value>>, rows: Option<Vec<TableRow>>) {
    for row in rows.unwrap_or_default() {
        out.push(
            row.columns
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.value.unwrap_or(Value::Null))
                .collect(),
        );
    }
}

fn retryable(e: &BQError) -> bool {
    match e {
        BQError::ResponseError { error } => {
            error.error.code == 429 || (500..600).contains(&error.error.code)
        }
        BQError::RequestError(r) => r.is_timeout() || r.is_connect(),
        _ => false,
    }
}

/// The typed warehouse error, keeping BigQuery's own message.
pub(crate) fn bq_error(e: BQError) -> WarehouseError {
    match e {
        BQError::ResponseError { error } => WarehouseError::Query(format!(
            "BigQuery {}: {}",
            error.error.code, error.error.message
        )),
        other => WarehouseError::Query(format!("BigQuery: {other}")),
    }
}

fn check_errors(
    errors: Option<&[gcp_bigquery_client::model::error_proto::ErrorProto]>,
) -> Result<()> {
    match errors {
        Some(errs) if !errs.is_empty() => Err(WarehouseError::Query(format!(
            "BigQuery: {}",
            errs.iter()
                .filter_map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        _ => Ok(()),
    }
}

// ---- parameters -------------------------------------------------------------

/// A scalar parameter value (BigQuery takes every value as a string).
#[derive(Debug, Clone)]
pub(crate) enum P {
    Str(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Date(Option<chrono::NaiveDate>),
    Timestamp(Option<chrono::NaiveDateTime>),
    FloatArray(Vec<f64>),
    StrArray(Vec<String>),
}

impl P {
    fn ty(&self) -> QueryParameterType {
        let scalar = |t: &str| QueryParameterType {
            r#type: t.into(),
            array_type: None,
            struct_types: None,
        };
        match self {
            P::Str(_) => scalar("STRING"),
            P::Int(_) => scalar("INT64"),
            P::Float(_) => scalar("FLOAT64"),
            P::Bool(_) => scalar("BOOL"),
            P::Date(_) => scalar("DATE"),
            P::Timestamp(_) => scalar("TIMESTAMP"),
            P::FloatArray(_) => QueryParameterType {
                r#type: "ARRAY".into(),
                array_type: Some(Box::new(scalar("FLOAT64"))),
                struct_types: None,
            },
            P::StrArray(_) => QueryParameterType {
                r#type: "ARRAY".into(),
                array_type: Some(Box::new(scalar("STRING"))),
                struct_types: None,
            },
        }
    }

    fn value(&self) -> QueryParameterValue {
        let scalar = |v: Option<String>| QueryParameterValue {
            value: v,
            array_values: None,
            struct_values: None,
        };
        match self {
            P::Str(v) => scalar(v.clone()),
            P::Int(v) => scalar(v.map(|v| v.to_string())),
            P::Float(v) => scalar(v.map(|v| v.to_string())),
            P::Bool(v) => scalar(v.map(|v| v.to_string())),
            P::Date(v) => scalar(v.map(|v| v.to_string())),
            P::Timestamp(v) => scalar(v.map(|v| v.format("%Y-%m-%d %H:%M:%S%.6f").to_string())),
            P::FloatArray(v) => QueryParameterValue {
                value: None,
                array_values: Some(v.iter().map(|f| scalar(Some(f.to_string()))).collect()),
                struct_values: None,
            },
            P::StrArray(v) => QueryParameterValue {
                value: None,
                array_values: Some(v.iter().map(|s| scalar(Some(s.clone()))).collect()),
                struct_values: None,
            },
        }
    }
}

pub(crate) fn param(name: &str, p: P) -> QueryParameter {
    QueryParameter {
        name: Some(name.into()),
        parameter_type: Some(p.ty()),
        parameter_value: Some(p.value()),
    }
}

/// `ARRAY<STRUCT<...>>` of rows, for `INSERT … SELECT … FROM UNNEST(@rows)`.
/// `columns` names the struct fields; every row has one value per column, and
/// the first row decides the types (an empty array needs `types`).
pub(crate) fn rows_param(
    name: &str,
    columns: &[&str],
    types: &[P],
    rows: Vec<Vec<P>>,
) -> QueryParameter {
    let struct_types = columns
        .iter()
        .zip(types)
        .map(|(c, t)| QueryParameterTypeStructTypes {
            name: Some((*c).into()),
            r#type: Some(t.ty()),
            description: None,
        })
        .collect();
    let values = rows
        .into_iter()
        .map(|row| QueryParameterValue {
            value: None,
            array_values: None,
            struct_values: Some(
                columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| ((*c).to_string(), v.value()))
                    .collect::<HashMap<_, _>>(),
            ),
        })
        .collect();
    QueryParameter {
        name: Some(name.into()),
        parameter_type: Some(QueryParameterType {
            r#type: "ARRAY".into(),
            array_type: Some(Box::new(QueryParameterType {
                r#type: "STRUCT".into(),
                array_type: None,
                struct_types: Some(struct_types),
            })),
            struct_types: None,
        }),
        parameter_value: Some(QueryParameterValue {
            value: None,
            array_values: Some(values),
            struct_values: None,
        }),
    }
}

// ---- values -------------------------------------------------------------------

/// Typed reads of result cells (every value arrives as a JSON string or null).
pub(crate) fn s(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

pub(crate) fn i(v: &Value) -> Option<i64> {
    s(v).and_then(|x| {
        x.parse::<i64>()
            .ok()
            .or_else(|| x.parse::<f64>().ok().map(|f| f as i64))
    })
}

pub(crate) fn f(v: &Value) -> Option<f64> {
    s(v).and_then(|x| x.parse().ok())
}

pub(crate) fn b(v: &Value) -> Option<bool> {
    s(v).map(|x| x == "true")
}

pub(crate) fn d(v: &Value) -> Option<chrono::NaiveDate> {
    s(v).and_then(|x| chrono::NaiveDate::parse_from_str(&x, "%Y-%m-%d").ok())
}

/// Timestamps are selected as `UNIX_MICROS(ts)` (the emulator returns integer
/// microseconds where BigQuery returns float seconds; micros agree on both).
pub(crate) fn ts(v: &Value) -> Option<chrono::NaiveDateTime> {
    i(v).and_then(|m| chrono::DateTime::from_timestamp_micros(m).map(|t| t.naive_utc()))
}

pub(crate) fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|x| match x {
                Value::Object(o) => o.get("v").and_then(f),
                other => f(other),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A missing or mistyped value in a row this crate's own query produced.
pub(crate) fn missing(what: &str) -> WarehouseError {
    WarehouseError::Query(format!("BigQuery returned no value for {what}"))
}
