//! What of a pipeline a store's tables depend on. A store records the shape
//! of the pipeline it was made with, and refuses another: forgetting
//! `--pipeline` on a shop's store must not fill it with basketball tables and
//! report an all-clear. A pipeline that only grew (new processors, new
//! columns of a command's table) is the same store's next version.

use serde::{Deserialize, Serialize};

use super::Pipeline;

/// A pipeline's tables, as recorded by a store (canonical JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub universe: String,
    pub date_column: String,
    pub entity_column: String,
    pub universe_columns: Vec<(String, String)>,
    pub failures: String,
    pub runs: String,
    pub processors: Vec<ProcessorShape>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorShape {
    pub code: String,
    pub runs: String,
    pub output_table: String,
    pub date_column: String,
    pub entity_column: String,
    pub columns: Vec<(String, String)>,
}

/// How a pipeline differs from the one a store recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeChange {
    Same,
    /// Only grew: each `(table, column, type)` is a column a command's
    /// table gains (nullable; the store adds it), and new processors get
    /// tables of their own.
    Grown {
        columns: Vec<(String, String, String)>,
    },
    /// Anything else, with the first difference found.
    Different(String),
}

impl Shape {
    pub fn of(p: &Pipeline) -> Self {
        let columns = |cs: &[crate::processor::ColumnSpec]| {
            cs.iter()
                .map(|c| (c.name.to_lowercase(), c.ty.name().to_string()))
                .collect()
        };
        Self {
            universe: p.universe.table.clone(),
            date_column: p.universe.date_column.clone(),
            entity_column: p.universe.entity_column.clone(),
            universe_columns: columns(&p.universe.columns),
            failures: p.failures_table.clone(),
            runs: p.runs_table.clone(),
            processors: p
                .processors
                .iter()
                .map(|s| ProcessorShape {
                    code: s.code.clone(),
                    runs: s.runner.name().to_string(),
                    output_table: s.output_table.clone(),
                    date_column: s.date_column.clone(),
                    entity_column: s.entity_column.clone(),
                    columns: columns(&s.columns),
                })
                .collect(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A recorded shape; `None` for text this version cannot read.
    pub fn from_json(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// The pipeline in a few words: its universe and its processors.
    pub fn describe(&self) -> String {
        let codes: Vec<&str> = self.processors.iter().map(|p| p.code.as_str()).collect();
        format!("the pipeline over {} ({})", self.universe, codes.join(", "))
    }

    /// How `self` differs from `recorded`.
    pub fn change_from(&self, recorded: &Shape) -> ShapeChange {
        if self == recorded {
            return ShapeChange::Same;
        }
        let was = |what: &str, now: &str, then: &str| {
            ShapeChange::Different(format!("{what} is {now}, was {then}"))
        };
        for (what, now, then) in [
            ("the universe table", &self.universe, &recorded.universe),
            (
                "the universe's date column",
                &self.date_column,
                &recorded.date_column,
            ),
            (
                "the universe's entity column",
                &self.entity_column,
                &recorded.entity_column,
            ),
            ("[tables] failures", &self.failures, &recorded.failures),
            ("[tables] runs", &self.runs, &recorded.runs),
        ] {
            if !now.eq_ignore_ascii_case(then) {
                return was(what, now, then);
            }
        }
        if self.universe_columns != recorded.universe_columns {
            return ShapeChange::Different(format!(
                "the universe's columns are ({}), were ({})",
                list(&self.universe_columns),
                list(&recorded.universe_columns)
            ));
        }
        let mut grown = Vec::new();
        for old in &recorded.processors {
            let Some(new) = self.processors.iter().find(|p| p.code == old.code) else {
                return ShapeChange::Different(format!("processor {} is gone", old.code));
            };
            let who = format!("processor {}", old.code);
            for (what, now, then) in [
                ("runs", &new.runs, &old.runs),
                ("output_table", &new.output_table, &old.output_table),
                ("date_column", &new.date_column, &old.date_column),
                ("entity_column", &new.entity_column, &old.entity_column),
            ] {
                if !now.eq_ignore_ascii_case(then) {
                    return was(&format!("{who}'s {what}"), now, then);
                }
            }
            for (name, ty) in &old.columns {
                match new.columns.iter().find(|(n, _)| n == name) {
                    None => {
                        return ShapeChange::Different(format!(
                        "{who}'s column {name} is gone (a column is never dropped from its table)"
                    ))
                    }
                    Some((_, now)) if now != ty => {
                        return ShapeChange::Different(format!(
                            "{who}'s column {name} is {now}, was {ty}"
                        ))
                    }
                    Some(_) => {}
                }
            }
            for (name, ty) in &new.columns {
                if !old.columns.iter().any(|(n, _)| n == name) {
                    grown.push((new.output_table.clone(), name.clone(), ty.clone()));
                }
            }
        }
        ShapeChange::Grown { columns: grown }
    }
}

fn list(columns: &[(String, String)]) -> String {
    columns
        .iter()
        .map(|(n, t)| format!("{n} {t}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> Pipeline {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../pipelines/orders/pipeline.toml"
        ))
        .unwrap();
        Pipeline::parse(&text).unwrap()
    }

    #[test]
    fn another_pipeline_is_different_and_named() {
        let (shop, nba) = (Shape::of(&orders()), Shape::of(&super::super::nba()));
        assert_eq!(
            nba.change_from(&shop),
            ShapeChange::Different(
                "the universe table is nba_analytics.player_game_summary, was shop.orders".into()
            )
        );
        assert_eq!(
            shop.describe(),
            "the pipeline over shop.orders (DAILY, LOYALTY)"
        );
        assert_eq!(shop.change_from(&shop), ShapeChange::Same);
        assert_eq!(
            Shape::from_json(&shop.to_json()).as_ref(),
            Some(&shop),
            "recorded and read back"
        );
    }

    #[test]
    fn a_new_column_or_processor_is_growth_anything_else_is_not() {
        let before = Shape::of(&orders());
        let mut after = before.clone();
        after.processors[0]
            .columns
            .push(("discount".into(), "float".into()));
        let mut extra = after.processors[1].clone();
        extra.code = "EXTRA".into();
        after.processors.push(extra);
        assert_eq!(
            after.change_from(&before),
            ShapeChange::Grown {
                columns: vec![(
                    "shop_metrics.customer_daily_totals".into(),
                    "discount".into(),
                    "float".into()
                )]
            }
        );
        let mut retyped = before.clone();
        retyped.processors[0].columns[0].1 = "text".into();
        assert!(matches!(
            retyped.change_from(&before),
            ShapeChange::Different(m) if m.contains("processor DAILY's column orders is text, was int")
        ));
        let mut dropped = before.clone();
        dropped.processors.remove(1);
        assert!(matches!(
            dropped.change_from(&before),
            ShapeChange::Different(m) if m == "processor LOYALTY is gone"
        ));
    }
}
