//! `validate --openlineage-url` (issue [P] 5): one OpenLineage run event per
//! processor, so an orchestrator's lineage backend (Marquez, DataHub, …)
//! shows whether each output table answered roll call. The output table is
//! the event's input dataset, with a data-quality assertions facet
//! (`rollcall.accounted`: success when nobody is unaccounted, nothing needs
//! investigating and no latest run failed) and a facet of the counts.

use domain::pipeline::Pipeline;
use domain::report::Reconciliation;
use serde_json::{json, Value};

use crate::error::ServerError;

/// Who wrote the events (OpenLineage's `producer`).
pub const PRODUCER: &str = concat!(
    "https://github.com/rollcall/rollcall/tree/v",
    env!("CARGO_PKG_VERSION")
);
const RUN_EVENT_SCHEMA: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const ASSERTIONS_SCHEMA: &str = "https://openlineage.io/spec/facets/1-0-1/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet";
/// Our own facet's schema (docs/openlineage/): `validate --format json`'s totals.
const COUNTS_SCHEMA: &str =
    "https://github.com/rollcall/rollcall/blob/main/docs/openlineage/RollcallAccountingFacet.json";
/// The assertion's name.
pub const ASSERTION: &str = "rollcall.accounted";
/// The job namespace the events are filed under.
pub const JOB_NAMESPACE: &str = "rollcall";

/// Where the checked tables live, as OpenLineage names datasets.
#[derive(Debug, Clone)]
pub struct Datasets {
    /// `bigquery`, or `duckdb://<file>` for the embedded store.
    pub namespace: String,
    /// Prefixed to each table (`project.` on BigQuery, nothing on DuckDB).
    pub prefix: String,
}

/// The events of one `validate` run: one per processor of `rec`, at `at`.
pub fn events(
    pipeline: &Pipeline,
    rec: &Reconciliation,
    datasets: &Datasets,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<Value> {
    rec.processors
        .iter()
        .map(|p| {
            let spec = pipeline.spec(*p);
            let t = rec.totals(*p);
            let failed_run = rec.cells_of(*p).any(|c| c.failed_run().is_some());
            let success = t.unaccounted == 0 && t.investigate == 0 && !failed_run;
            json!({
                "eventType": "COMPLETE",
                "eventTime": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "producer": PRODUCER,
                "schemaURL": RUN_EVENT_SCHEMA,
                "run": { "runId": uuid::Uuid::new_v4().to_string() },
                "job": {
                    "namespace": JOB_NAMESPACE,
                    "name": format!("validate.{}", spec.code),
                },
                "inputs": [{
                    "namespace": datasets.namespace,
                    "name": format!("{}{}", datasets.prefix, spec.output_table),
                    "inputFacets": {
                        "dataQualityAssertions": {
                            "_producer": PRODUCER,
                            "_schemaURL": ASSERTIONS_SCHEMA,
                            "assertions": [{ "assertion": ASSERTION, "success": success }],
                        },
                        "rollcall_accounting": {
                            "_producer": PRODUCER,
                            "_schemaURL": COUNTS_SCHEMA,
                            "start": rec.range.start(),
                            "end": rec.range.end(),
                            "expected": t.expected,
                            "has_record": t.has_record,
                            "has_failure": t.has_failure,
                            "unaccounted": t.unaccounted,
                            "unaccounted_not_run": t.unaccounted_not_run,
                            "acknowledged": t.acknowledged,
                            "investigate": t.investigate,
                            "coverage": t.coverage,
                            "latest_run_failed": failed_run,
                        },
                    },
                }],
                "outputs": [],
            })
        })
        .collect()
}

/// `--openlineage-url`: an http(s) base URL; events go to its
/// `/api/v1/lineage`, as OpenLineage's HTTP transport sends them.
pub fn endpoint(raw: &str) -> Result<String, String> {
    let base = raw.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(base).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("an http:// or https:// URL, e.g. http://marquez:5000".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("a base URL without query or fragment".into());
    }
    Ok(format!("{base}/api/v1/lineage"))
}

/// The endpoint as it may be printed: without a user or password.
pub fn shown(endpoint: &str) -> String {
    match reqwest::Url::parse(endpoint) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => "the OpenLineage endpoint".into(),
    }
}

/// Posts each event; the first refusal or transport error is returned
/// (its message names the endpoint without credentials).
pub async fn emit(endpoint: &str, events: &[Value]) -> Result<(), ServerError> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    for event in events {
        let response = http
            .post(endpoint)
            .json(event)
            .send()
            .await
            .map_err(|e| ServerError::Failed(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(ServerError::Failed(format!(
                "OpenLineage endpoint {} answered {}",
                shown(endpoint),
                response.status()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_http_transport_s() {
        assert_eq!(
            endpoint("http://marquez:5000/").unwrap(),
            "http://marquez:5000/api/v1/lineage"
        );
        for bad in ["marquez:5000", "ftp://x", "http://x/?a=1", ""] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
        let secret = endpoint("https://ol:s3cret@marquez.example").unwrap();
        assert_eq!(shown(&secret), "https://marquez.example/api/v1/lineage");
    }
}
