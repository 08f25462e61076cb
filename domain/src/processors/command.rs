//! The command protocol: what a `runs = "command"` processor reads and
//! prints (README, "Command processors"). Rollcall starts `program args… DATE`
//! (or `… DATE DATE …` with `batch_dates`) with the dates' expected entities
//! on stdin, one JSON object per line (`{"date": "…", "entity": "…"}`), and
//! reads JSON lines from its stdout (each naming its `"date"` when the run
//! has several):
//!
//! ```text
//! {"entity": "e1", "record": {"column": value, …}}
//! {"entity": "e2", "failure": {"category": "INSUFFICIENT_DATA", "reason": "…", "can_retry": false}}
//! {"failure": {"category": "MISSING_DEPENDENCIES", "reason": "…"}}      (no entity: the whole date)
//! ```
//!
//! Validation is strict because nothing may be dropped quietly: a line that
//! cannot be taken as written (not JSON, an unknown key or column, a value of
//! the wrong type, an entity that is not expected, the same entity twice)
//! fails the whole cell, naming the line, and nothing is written. A category
//! Rollcall does not know becomes `UNKNOWN`, its spelling kept in the reason.
//! Expected entities the command does not mention stay unaccounted.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use serde_json::{Map, Value as Json};

use super::{CellOutput, EntityRow, FailureRecord, Records, Value, DATE_LEVEL};
use crate::processor::{ColumnType, ProcessorSpec};
use crate::{DomainError, FailureCategory};

pub use crate::processor::{MAX_ENTITY_LEN, MAX_TEXT_LEN};

/// What the command reads on stdin: the expected entities with their date,
/// one JSON line each (`{"date": "…", "entity": "…"}`), date by date.
pub fn stdin_lines<'a>(expected: impl IntoIterator<Item = (NaiveDate, &'a str)>) -> String {
    let mut out = String::new();
    for (date, e) in expected {
        out.push_str(&serde_json::json!({ "date": date.to_string(), "entity": e }).to_string());
        out.push('\n');
    }
    out
}

/// The cell a command's stdout describes, or the first line that cannot be
/// taken as written.
pub fn parse_output(
    spec: &ProcessorSpec,
    date: NaiveDate,
    expected: &HashSet<&str>,
    stdout: &str,
) -> Result<CellOutput, DomainError> {
    let one = BTreeMap::from([(date, expected.clone())]);
    let mut cells = parse_batch_output(spec, &one, stdout)?;
    cells.pop().ok_or_else(|| DomainError::BadCommandOutput {
        line: 0,
        message: "no cell".into(),
    })
}

/// What one date's lines have said so far.
#[derive(Default)]
struct DateLines {
    rows: Vec<EntityRow>,
    failures: Vec<FailureRecord>,
    with_record: HashSet<String>,
    with_failure: HashSet<String>,
}

/// The cells of a run over several dates (`expected`: each date's expected
/// entities), one per date in date order, or the first line that cannot be
/// taken as written — which fails every cell of the run. A line names its
/// `"date"`; it may leave it out only when the run has one date.
pub fn parse_batch_output(
    spec: &ProcessorSpec,
    expected: &BTreeMap<NaiveDate, HashSet<&str>>,
    stdout: &str,
) -> Result<Vec<CellOutput>, DomainError> {
    let mut per_date: BTreeMap<NaiveDate, DateLines> = expected
        .keys()
        .map(|d| (*d, DateLines::default()))
        .collect();
    let only_date = if expected.len() == 1 {
        expected.keys().next().copied()
    } else {
        None
    };
    for (i, raw) in stdout.lines().enumerate() {
        let line = i + 1;
        let bad = |message: String| DomainError::BadCommandOutput { line, message };
        if raw.trim().is_empty() {
            continue;
        }
        let json: Json = serde_json::from_str(raw).map_err(|e| bad(format!("not JSON: {e}")))?;
        let Json::Object(obj) = json else {
            return Err(bad("expected a JSON object".into()));
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !["date", "entity", "record", "failure"].contains(&k.as_str()))
        {
            return Err(bad(format!(
                "unknown key {}: a line has \"entity\" and one of \"record\", \"failure\"",
                shown(k)
            )));
        }
        let date = match (obj.get("date"), only_date) {
            (None, Some(d)) => d,
            (None, None) => {
                return Err(bad(
                    "a line needs its \"date\" when the command runs for several dates".into(),
                ))
            }
            (Some(Json::String(s)), _) => {
                let d = crate::dates::parse_date("date", s).map_err(|e| bad(e.to_string()))?;
                if !expected.contains_key(&d) {
                    return Err(bad(format!("date {d} is not one this run was given")));
                }
                d
            }
            (Some(other), _) => {
                return Err(bad(format!(
                    "\"date\" must be a YYYY-MM-DD string, not {}",
                    shown(&other.to_string())
                )))
            }
        };
        let (Some(of_date), Some(lines)) = (expected.get(&date), per_date.get_mut(&date)) else {
            return Err(bad(format!("date {date} is not one this run was given")));
        };
        let entity = match obj.get("entity") {
            None => None,
            Some(Json::String(e)) if !e.is_empty() && e.len() <= MAX_ENTITY_LEN => Some(e.clone()),
            Some(other) => {
                return Err(bad(format!(
                    "\"entity\" must be a string of 1 to {MAX_ENTITY_LEN} bytes, not {}",
                    shown(&other.to_string())
                )))
            }
        };
        let is_expected = |e: &str| {
            if of_date.contains(e) {
                Ok(())
            } else {
                Err(bad(format!(
                    "entity {} is not expected on {date}",
                    shown(e)
                )))
            }
        };
        match (obj.get("record"), obj.get("failure")) {
            (Some(record), None) => {
                let Some(entity) = entity else {
                    return Err(bad("a record needs its \"entity\"".into()));
                };
                is_expected(&entity)?;
                let values = values_of(spec, record).map_err(bad)?;
                if !lines.with_record.insert(entity.clone()) {
                    return Err(bad(format!("a second record for {}", shown(&entity))));
                }
                lines.rows.push(EntityRow { entity, values });
            }
            (None, Some(failure)) => {
                let entity = match entity {
                    Some(e) => {
                        is_expected(&e)?;
                        e
                    }
                    None => DATE_LEVEL.to_string(),
                };
                let f = failure_of(&entity, failure).map_err(bad)?;
                if !lines.with_failure.insert(entity.clone()) {
                    return Err(bad(format!("a second failure for {}", shown(&entity))));
                }
                lines.failures.push(f);
            }
            _ => {
                return Err(bad(
                    "a line has exactly one of \"record\" and \"failure\"".into()
                ))
            }
        }
    }
    Ok(per_date
        .into_iter()
        .map(|(date, lines)| CellOutput {
            processor: spec.id,
            date,
            expected: expected.get(&date).map_or(0, HashSet::len),
            records: Records::Rows(lines.rows),
            failures: lines.failures,
            dependency_check_passed: true,
        })
        .collect())
}

fn values_of(spec: &ProcessorSpec, record: &Json) -> Result<Vec<Value>, String> {
    let Json::Object(given) = record else {
        return Err("\"record\" must be an object of column values".into());
    };
    if let Some(k) = given
        .keys()
        .find(|k| !spec.columns.iter().any(|c| c.name == **k))
    {
        let declared: Vec<&str> = spec.columns.iter().map(|c| c.name.as_str()).collect();
        return Err(format!(
            "unknown column {} (declared: {})",
            shown(k),
            if declared.is_empty() {
                "none".to_string()
            } else {
                declared.join(", ")
            }
        ));
    }
    spec.columns
        .iter()
        .map(|c| {
            let v = given.get(&c.name).unwrap_or(&Json::Null);
            value_of(c.ty, v).ok_or_else(|| {
                format!(
                    "column {}: {} is not a {} value",
                    c.name,
                    shown(&v.to_string()),
                    c.ty.name()
                )
            })
        })
        .collect()
}

fn value_of(ty: ColumnType, v: &Json) -> Option<Value> {
    Some(match (ty, v) {
        (_, Json::Null) => Value::Null,
        (ColumnType::Int, Json::Number(n)) => Value::Int(n.as_i64()?),
        (ColumnType::Float, Json::Number(n)) => Value::Float(n.as_f64()?),
        (ColumnType::Text, Json::String(s)) if s.len() <= MAX_TEXT_LEN => Value::Text(s.clone()),
        (ColumnType::Bool, Json::Bool(b)) => Value::Bool(*b),
        _ => return None,
    })
}

fn failure_of(entity: &str, failure: &Json) -> Result<FailureRecord, String> {
    let Json::Object(f) = failure else {
        return Err("\"failure\" must be an object".into());
    };
    if let Some(k) = f
        .keys()
        .find(|k| !["category", "reason", "can_retry"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown failure key {} (category, reason, can_retry)",
            shown(k)
        ));
    }
    let text = |key: &str, f: &Map<String, Json>| match f.get(key) {
        None | Some(Json::Null) => Ok(String::new()),
        Some(Json::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "failure {key} must be a string, not {}",
            shown(&other.to_string())
        )),
    };
    let raw = text("category", f)?;
    let reason = text("reason", f)?;
    let category = FailureCategory::normalise(&raw);
    let reason = if category == FailureCategory::Unknown
        && crate::failure::normalised_key(&raw) != FailureCategory::Unknown.code()
    {
        // Kept, never dropped: the reason says what the command wrote.
        format!(
            "category {} is not one of Rollcall's: {reason}",
            shown(&raw)
        )
    } else {
        reason
    };
    let mut record = FailureRecord::player(entity, category, reason);
    match f.get("can_retry") {
        None | Some(Json::Null) => {}
        Some(Json::Bool(b)) => record.can_retry = *b,
        Some(other) => {
            return Err(format!(
                "failure can_retry must be true or false, not {}",
                shown(&other.to_string())
            ))
        }
    }
    Ok(record)
}

/// A value from the command, quoted and cut short for an error message.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(40).collect();
    if cut.len() < s.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Pipeline;

    const PIPELINE: &str = r#"
[universe]
table = "nba_analytics.player_game_summary"
date_column = "game_date"
entity_column = "player_lookup"
expected = "is_active"

[tables]
failures = "nba_processing.precompute_failures"
runs = "nba_processing.precompute_processor_runs"

[[processor]]
code = "REST"
name = "RestDays"
output_table = "team.rest_days"
date_column = "rest_date"
entity_column = "player_lookup"
runs = "command"
command = ["python3", "rest.py"]
columns = [{ name = "rest_days", type = "int" }, { name = "load", type = "float" },
           { name = "note", type = "text" }, { name = "b2b", type = "bool" }]
"#;

    fn spec() -> ProcessorSpec {
        Pipeline::parse(PIPELINE).unwrap().processors.remove(0)
    }

    fn d() -> NaiveDate {
        NaiveDate::from_ymd_opt(2021, 11, 5).unwrap()
    }

    fn parse(stdout: &str) -> Result<CellOutput, DomainError> {
        let expected: HashSet<&str> = ["ann", "bob", "cy"].into_iter().collect();
        parse_output(&spec(), d(), &expected, stdout)
    }

    fn refused_at(stdout: &str) -> (usize, String) {
        match parse(stdout) {
            Err(DomainError::BadCommandOutput { line, message }) => (line, message),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn records_and_failures_are_taken_as_written_and_silence_stays_unaccounted() {
        let out = parse(concat!(
            "{\"entity\": \"ann\", \"record\": {\"rest_days\": 2, \"load\": 1.5, \"note\": \"ok\", \"b2b\": false}}\n",
            "\n",
            "{\"entity\": \"bob\", \"failure\": {\"category\": \"insufficient data\", \"reason\": \"3 games\"}}\n",
        ))
        .unwrap();
        assert_eq!(out.expected, 3);
        let Records::Rows(rows) = &out.records else {
            panic!("{:?}", out.records)
        };
        assert_eq!(
            rows,
            &vec![EntityRow {
                entity: "ann".into(),
                values: vec![
                    Value::Int(2),
                    Value::Float(1.5),
                    Value::Text("ok".into()),
                    Value::Bool(false)
                ],
            }]
        );
        assert_eq!(out.failures.len(), 1);
        let f = &out.failures[0];
        assert_eq!(
            (f.entity_id.as_str(), f.category),
            ("bob", FailureCategory::InsufficientData)
        );
        assert_eq!(f.reason, "3 games");
        assert!(!f.can_retry, "insufficient data is not retried by default");
        // "cy" is not mentioned: it stays unaccounted (no row invented).
        assert!(!out.records.players().contains(&"cy"));
    }

    #[test]
    fn odd_categories_become_unknown_with_their_spelling_and_missing_values_are_null() {
        let out = parse(concat!(
            "{\"entity\": \"ann\", \"failure\": {\"category\": \"WEIRD_THING\", \"reason\": \"x\", \"can_retry\": true}}\n",
            "{\"failure\": {\"category\": \"MISSING_DEPENDENCIES\"}}\n",
            "{\"entity\": \"bob\", \"record\": {\"note\": null}}\n",
        ))
        .unwrap();
        let f = &out.failures[0];
        assert_eq!(f.category, FailureCategory::Unknown);
        assert!(
            f.reason.contains("\"WEIRD_THING\"") && f.reason.ends_with(": x"),
            "{}",
            f.reason
        );
        assert!(f.can_retry);
        assert_eq!(out.failures[1].entity_id, DATE_LEVEL);
        let Records::Rows(rows) = &out.records else {
            panic!()
        };
        assert_eq!(rows[0].values, vec![Value::Null; 4]);
    }

    #[test]
    fn what_cannot_be_taken_as_written_fails_the_cell_naming_the_line() {
        let ok = "{\"entity\": \"ann\", \"record\": {}}\n";
        for (bad, says) in [
            ("not json", "not JSON"),
            ("[1, 2]", "JSON object"),
            (
                "{\"entity\": \"bob\", \"record\": {\"colour\": 1}}",
                "unknown column \"colour\"",
            ),
            (
                "{\"entity\": \"bob\", \"record\": {\"rest_days\": 1.5}}",
                "rest_days",
            ),
            (
                "{\"entity\": \"bob\", \"record\": {\"b2b\": \"yes\"}}",
                "not a bool",
            ),
            (
                "{\"entity\": \"zed\", \"record\": {}}",
                "\"zed\" is not expected",
            ),
            ("{\"entity\": \"ann\", \"record\": {}}", "second record"),
            ("{\"entity\": \"bob\"}", "exactly one"),
            (
                "{\"entity\": \"bob\", \"record\": {}, \"failure\": {}}",
                "exactly one",
            ),
            ("{\"record\": {}}", "needs its \"entity\""),
            (
                "{\"entity\": 7, \"record\": {}}",
                "\"entity\" must be a string",
            ),
            (
                "{\"entity\": \"bob\", \"extra\": 1, \"record\": {}}",
                "unknown key \"extra\"",
            ),
            (
                "{\"entity\": \"bob\", \"failure\": {\"why\": \"x\"}}",
                "unknown failure key",
            ),
            (
                "{\"entity\": \"bob\", \"failure\": {\"can_retry\": \"no\"}}",
                "can_retry",
            ),
            (
                "{\"entity\": \"bob\", \"failure\": {\"reason\": 5}}",
                "reason must be a string",
            ),
        ] {
            let (line, message) = refused_at(&format!("{ok}{bad}\n"));
            assert_eq!(line, 2, "{bad}: {message}");
            assert!(message.contains(says), "{bad}: {message}");
        }
    }

    #[test]
    fn stdin_carries_each_expected_entity_as_json() {
        let text = stdin_lines([(d(), "ann"), (d(), "quote\"d\nline")]);
        let back: Vec<(String, String)> = text
            .lines()
            .map(|l| {
                let j = serde_json::from_str::<Json>(l).unwrap();
                (
                    j["date"].as_str().unwrap().to_string(),
                    j["entity"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            back,
            vec![
                ("2021-11-05".into(), "ann".into()),
                ("2021-11-05".into(), "quote\"d\nline".into())
            ]
        );
    }

    #[test]
    fn a_run_over_several_dates_answers_per_date_and_names_each_line_s_date() {
        let next = d().succ_opt().unwrap();
        let expected = BTreeMap::from([
            (d(), ["ann", "bob"].into_iter().collect::<HashSet<&str>>()),
            (next, ["ann"].into_iter().collect()),
        ]);
        let cells = parse_batch_output(
            &spec(),
            &expected,
            concat!(
                "{\"date\": \"2021-11-05\", \"entity\": \"ann\", \"record\": {}}\n",
                "{\"date\": \"2021-11-06\", \"entity\": \"ann\", \"record\": {}}\n",
                "{\"date\": \"2021-11-05\", \"failure\": {\"category\": \"MISSING_DEPENDENCIES\"}}\n",
            ),
        )
        .unwrap();
        assert_eq!(cells.len(), 2);
        assert_eq!((cells[0].date, cells[0].expected), (d(), 2));
        assert_eq!(cells[0].records.players(), vec!["ann"]);
        assert_eq!(cells[0].failures[0].entity_id, DATE_LEVEL);
        assert_eq!((cells[1].date, cells[1].expected), (next, 1));
        assert!(cells[1].failures.is_empty());
        // Every line names its date; only the run's dates; each entity on its own date.
        for (bad, says) in [
            (
                "{\"entity\": \"ann\", \"record\": {}}",
                "needs its \"date\"",
            ),
            (
                "{\"date\": \"2021-11-07\", \"entity\": \"ann\", \"record\": {}}",
                "not one this run",
            ),
            (
                "{\"date\": \"Nov 5\", \"entity\": \"ann\", \"record\": {}}",
                "date",
            ),
            (
                "{\"date\": 5, \"entity\": \"ann\", \"record\": {}}",
                "YYYY-MM-DD",
            ),
            (
                "{\"date\": \"2021-11-06\", \"entity\": \"bob\", \"record\": {}}",
                "not expected on 2021-11-06",
            ),
        ] {
            match parse_batch_output(&spec(), &expected, &format!("{bad}\n")) {
                Err(DomainError::BadCommandOutput { line, message }) => {
                    assert_eq!(line, 1, "{bad}");
                    assert!(message.contains(says), "{bad}: {message}");
                }
                other => panic!("{bad}: not refused: {other:?}"),
            }
        }
        // One date: a line may name it, and only it.
        let out =
            parse("{\"date\": \"2021-11-05\", \"entity\": \"ann\", \"record\": {}}\n").unwrap();
        assert_eq!(out.records.players(), vec!["ann"]);
        assert!(
            parse("{\"date\": \"2021-11-06\", \"entity\": \"ann\", \"record\": {}}\n").is_err()
        );
    }
}
