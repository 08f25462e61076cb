//! Query parameters and result values: Rollcall's values as BigQuery's
//! typed parameters, and the JSON strings BigQuery answers with read back.

use super::*;

/// A scalar parameter value (BigQuery takes every value as a string).
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Str(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Date(Option<chrono::NaiveDate>),
    Timestamp(Option<chrono::NaiveDateTime>),
    FloatArray(Vec<f64>),
    StrArray(Vec<String>),
}

impl Param {
    fn ty(&self) -> QueryParameterType {
        let scalar = |t: &str| QueryParameterType {
            r#type: t.into(),
            array_type: None,
            struct_types: None,
        };
        match self {
            Param::Str(_) => scalar("STRING"),
            Param::Int(_) => scalar("INT64"),
            Param::Float(_) => scalar("FLOAT64"),
            Param::Bool(_) => scalar("BOOL"),
            Param::Date(_) => scalar("DATE"),
            Param::Timestamp(_) => scalar("TIMESTAMP"),
            Param::FloatArray(_) => QueryParameterType {
                r#type: "ARRAY".into(),
                array_type: Some(Box::new(scalar("FLOAT64"))),
                struct_types: None,
            },
            Param::StrArray(_) => QueryParameterType {
                r#type: "ARRAY".into(),
                array_type: Some(Box::new(scalar("STRING"))),
                struct_types: None,
            },
        }
    }

    /// The value as a load job's newline-delimited JSON takes it.
    pub fn json(&self) -> Value {
        let num = |f: f64| {
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)
        };
        match self {
            Param::Str(v) => v.clone().map(Value::String).unwrap_or(Value::Null),
            Param::Int(v) => v.map(Value::from).unwrap_or(Value::Null),
            Param::Float(v) => v.map(num).unwrap_or(Value::Null),
            Param::Bool(v) => v.map(Value::Bool).unwrap_or(Value::Null),
            Param::Date(v) => v
                .map(|d| Value::String(d.to_string()))
                .unwrap_or(Value::Null),
            Param::Timestamp(v) => v
                .map(|t| Value::String(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()))
                .unwrap_or(Value::Null),
            Param::FloatArray(v) => Value::Array(v.iter().map(|f| num(*f)).collect()),
            Param::StrArray(v) => Value::Array(v.iter().cloned().map(Value::String).collect()),
        }
    }

    fn value(&self) -> QueryParameterValue {
        let scalar = |v: Option<String>| QueryParameterValue {
            value: v,
            array_values: None,
            struct_values: None,
        };
        match self {
            Param::Str(v) => scalar(v.clone()),
            Param::Int(v) => scalar(v.map(|v| v.to_string())),
            Param::Float(v) => scalar(v.map(|v| v.to_string())),
            Param::Bool(v) => scalar(v.map(|v| v.to_string())),
            Param::Date(v) => scalar(v.map(|v| v.to_string())),
            Param::Timestamp(v) => scalar(v.map(|v| v.format("%Y-%m-%d %H:%M:%S%.6f").to_string())),
            Param::FloatArray(v) => QueryParameterValue {
                value: None,
                array_values: Some(v.iter().map(|f| scalar(Some(f.to_string()))).collect()),
                struct_values: None,
            },
            Param::StrArray(v) => QueryParameterValue {
                value: None,
                array_values: Some(v.iter().map(|s| scalar(Some(s.clone()))).collect()),
                struct_values: None,
            },
        }
    }
}

pub(crate) fn param(name: &str, p: Param) -> QueryParameter {
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
    types: &[Param],
    rows: Vec<Vec<Param>>,
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

/// A shared query's argument (`warehouse::sql`) as a named parameter.
pub(crate) fn arg_param((name, value): &(&'static str, warehouse::sql::Value)) -> QueryParameter {
    use warehouse::sql::Value as V;
    let p = match value {
        V::Date(d) => Param::Date(Some(*d)),
        V::Text(t) => Param::Str(t.clone()),
        V::Int(i) => Param::Int(Some(*i)),
    };
    param(name, p)
}

// ---- values -------------------------------------------------------------------

/// A result as the shared reads take it (`warehouse::QueryPort`): every
/// value arrives as a JSON string or null, and stays text for the typed
/// reads to parse.
pub(crate) fn result_set(found: Rows) -> Result<warehouse::ResultSet> {
    let cell = |v: Value| match v {
        Value::Null => warehouse::Cell::Null,
        Value::String(s) => warehouse::Cell::Text(s),
        other => warehouse::Cell::Text(other.to_string()),
    };
    let mut set = warehouse::ResultSet::new(found.columns);
    for row in found.rows {
        set.push_row(row.into_iter().map(cell))?;
    }
    Ok(set)
}

/// Typed reads of result cells (every value arrives as a JSON string or null).
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

pub(crate) fn int(v: &Value) -> Option<i64> {
    text(v).and_then(|x| {
        x.parse::<i64>()
            .ok()
            .or_else(|| x.parse::<f64>().ok().map(|f| f as i64))
    })
}

pub(crate) fn float(v: &Value) -> Option<f64> {
    text(v).and_then(|x| x.parse().ok())
}

pub(crate) fn flag(v: &Value) -> Option<bool> {
    text(v).map(|x| x == "true")
}

/// Timestamps are selected as `UNIX_MICROS(ts)` (the emulator returns integer
/// microseconds where BigQuery returns float seconds; micros agree on both).
pub(crate) fn timestamp(v: &Value) -> Option<chrono::NaiveDateTime> {
    int(v).and_then(|m| chrono::DateTime::from_timestamp_micros(m).map(|t| t.naive_utc()))
}

pub(crate) fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|x| match x {
                Value::Object(o) => o.get("v").and_then(float),
                other => float(other),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A missing or mistyped value in a row this crate's own query produced.
pub(crate) fn missing(what: &str) -> WarehouseError {
    WarehouseError::Query(format!("BigQuery returned no value for {what}"))
}
