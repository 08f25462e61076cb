//! Rows as JSON objects and back: domain types (all serde) travel as rows
//! without a hand-written mapping per table.

use serde_json::{Map, Value};

use super::{TableDef, Ty, Ty::*};
use crate::client::Param;

pub(crate) fn column_list(t: &TableDef) -> String {
    t.columns
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SELECT list that reads a table back into a JSON-friendly shape
/// (timestamps as microseconds, see `client::timestamp`).
pub(crate) fn select_list(t: &TableDef, alias: &str) -> String {
    select_list_without(t, alias, &[])
}

/// [`select_list`] without the columns in `left_out`.
pub(crate) fn select_list_without(t: &TableDef, alias: &str, left_out: &[&str]) -> String {
    t.columns
        .iter()
        .filter(|(c, _)| !left_out.contains(c))
        .map(|(c, ty)| match ty {
            Timestamp => format!("UNIX_MICROS({alias}.{c}) AS {c}"),
            _ => format!("{alias}.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row as parameter values, taken by column name from a serialised domain
/// value; `extra` supplies the columns the domain type does not carry.
pub(crate) fn row_params(
    t: &TableDef,
    object: &Map<String, Value>,
    extra: &[(&str, Param)],
) -> Vec<Param> {
    t.columns
        .iter()
        .map(|(c, ty)| {
            if let Some((_, p)) = extra.iter().find(|(name, _)| name == c) {
                return p.clone();
            }
            let v = object.get(*c).unwrap_or(&Value::Null);
            to_param(*ty, v)
        })
        .collect()
}

pub(crate) fn to_param(ty: Ty, v: &Value) -> Param {
    let text = || match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    match ty {
        Str => Param::Str(text()),
        Int => Param::Int(v.as_i64()),
        Float => Param::Float(v.as_f64()),
        Bool => Param::Bool(v.as_bool()),
        Date => Param::Date(text().and_then(|s| s.parse().ok())),
        Timestamp => Param::Timestamp(text().and_then(|s| s.parse().ok())),
        FloatArray => Param::FloatArray(
            v.as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default(),
        ),
        StrArray => Param::StrArray(
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        ),
    }
}

/// A row as a load job's JSON object, by column name.
pub(crate) fn row_json(columns: &[(&str, Ty)], values: &[Param]) -> Map<String, Value> {
    columns
        .iter()
        .zip(values)
        .map(|((c, _), v)| ((*c).to_string(), v.json()))
        .collect()
}

/// A result row (read with `select_list`) as a JSON object that serde can turn
/// into the domain type.
pub(crate) fn row_object(t: &TableDef, row: &[Value]) -> Map<String, Value> {
    use crate::client as c;
    t.columns
        .iter()
        .zip(row)
        .map(|((name, ty), v)| {
            let typed = match ty {
                Str | Date => c::text(v).map(Value::String),
                Int => c::int(v).map(Value::from),
                Float => c::float(v).map(Value::from),
                Bool => c::flag(v).map(Value::Bool),
                Timestamp => c::timestamp(v)
                    .map(|t| Value::String(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string())),
                FloatArray => Some(Value::from(c::floats(v))),
                StrArray => Some(Value::Array(match v {
                    Value::Array(items) => items
                        .iter()
                        .filter_map(|x| match x {
                            Value::Object(o) => o.get("v").and_then(c::text),
                            other => c::text(other),
                        })
                        .map(Value::String)
                        .collect(),
                    _ => Vec::new(),
                })),
            };
            ((*name).to_string(), typed.unwrap_or(Value::Null))
        })
        .collect()
}
