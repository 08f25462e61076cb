//! A pipeline file (TOML): the entity universe, the failure and run tables,
//! and the processors with their tables, dependencies and how they run.
//! Parsed and validated here, from text (reading the file is the caller's
//! IO); every error is a [`DomainError::BadPipeline`] naming its line and column.
//!
//! The NBA pipeline ships as `pipelines/nba.toml` ([`nba`]); the compiled-in
//! [`crate::PROCESSORS`] must declare exactly what it says (a test holds the
//! two together until the processors are read from the file at start-up).

use std::collections::HashSet;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::DomainError;

/// The pipeline Rollcall ships and uses by default.
pub const NBA_PIPELINE: &str = include_str!("../../pipelines/nba.toml");

/// A validated pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub universe: Universe,
    pub failures_table: String,
    pub runs_table: String,
    /// In dependency order.
    pub processors: Vec<PipelineProcessor>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Universe {
    pub table: String,
    pub date_column: String,
    pub entity_column: String,
    /// Operator-written SQL over the universe table: which entities are expected.
    pub expected: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PipelineProcessor {
    pub code: String,
    pub name: String,
    /// Other spellings found in stored `processor_name` columns.
    pub spellings: Vec<String>,
    pub output_table: String,
    pub date_column: String,
    pub entity_column: String,
    /// Codes of upstream processors, each declared earlier.
    pub depends_on: Vec<String>,
    pub min_games: usize,
    pub runs: Runs,
}

/// How a processor's cells get written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runs {
    /// One of Rollcall's own Rust processors.
    Builtin,
    /// The team's own program (see README for its protocol).
    Command,
    /// Someone else writes the table; Rollcall only reconciles it.
    Observe,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    universe: UniverseForm,
    tables: TablesForm,
    #[serde(rename = "processor")]
    processors: Vec<ProcessorForm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UniverseForm {
    table: Spanned<String>,
    date_column: Spanned<String>,
    entity_column: Spanned<String>,
    expected: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TablesForm {
    failures: Spanned<String>,
    runs: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessorForm {
    code: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    spellings: Vec<Spanned<String>>,
    output_table: Spanned<String>,
    date_column: Spanned<String>,
    entity_column: Spanned<String>,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    min_games: usize,
    runs: Runs,
}

/// The shipped NBA pipeline.
pub fn nba() -> Pipeline {
    Pipeline::parse(NBA_PIPELINE).expect("the shipped pipeline file is valid (tested)")
}

impl Pipeline {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let form: FileForm = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            at_offset(text, at, e.message().to_string())
        })?;
        let err = |span: Range<usize>, message: String| at_offset(text, span.start, message);
        let table = |s: &Spanned<String>| -> Result<String, DomainError> {
            check_name(s.get_ref(), 2).map_err(|m| err(s.span(), m))?;
            Ok(s.get_ref().clone())
        };
        let column = |s: &Spanned<String>| -> Result<String, DomainError> {
            check_name(s.get_ref(), 1).map_err(|m| err(s.span(), m))?;
            Ok(s.get_ref().clone())
        };
        let u = &form.universe;
        if u.expected.get_ref().trim().is_empty() || u.expected.get_ref().contains(';') {
            return Err(err(
                u.expected.span(),
                "`expected` must be one SQL condition (not empty, no `;`)".into(),
            ));
        }
        let universe = Universe {
            table: table(&u.table)?,
            date_column: column(&u.date_column)?,
            entity_column: column(&u.entity_column)?,
            expected: u.expected.get_ref().trim().to_string(),
        };
        if form.processors.is_empty() {
            return Err(at_offset(
                text,
                0,
                "the pipeline declares no [[processor]]".into(),
            ));
        }
        let mut spelled: HashSet<String> = HashSet::new();
        let mut declared: Vec<String> = Vec::new();
        let mut processors = Vec::new();
        for p in &form.processors {
            let code = p.code.get_ref();
            let valid_code = !code.is_empty()
                && code.len() <= 16
                && code
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !valid_code {
                return Err(err(
                    p.code.span(),
                    format!("processor code {code:?}: 1-16 of A-Z, 0-9, _"),
                ));
            }
            for s in std::iter::once(&p.code)
                .chain([&p.name])
                .chain(&p.spellings)
            {
                if s.get_ref().trim().is_empty() {
                    return Err(err(s.span(), "a processor spelling is empty".into()));
                }
                if !spelled.insert(s.get_ref().to_uppercase()) {
                    return Err(err(
                        s.span(),
                        format!("{:?} already names another processor", s.get_ref()),
                    ));
                }
            }
            for up in &p.depends_on {
                if !declared.contains(up.get_ref()) {
                    return Err(err(
                        up.span(),
                        format!(
                            "{code} depends on {:?}, which is not declared before it",
                            up.get_ref()
                        ),
                    ));
                }
            }
            declared.push(code.clone());
            processors.push(PipelineProcessor {
                code: code.clone(),
                name: p.name.get_ref().clone(),
                spellings: p.spellings.iter().map(|s| s.get_ref().clone()).collect(),
                output_table: table(&p.output_table)?,
                date_column: column(&p.date_column)?,
                entity_column: column(&p.entity_column)?,
                depends_on: p.depends_on.iter().map(|s| s.get_ref().clone()).collect(),
                min_games: p.min_games,
                runs: p.runs.clone(),
            });
        }
        Ok(Pipeline {
            universe,
            failures_table: table(&form.tables.failures)?,
            runs_table: table(&form.tables.runs)?,
            processors,
        })
    }
}

/// A SQL name of at most `max_parts` dotted identifiers.
fn check_name(name: &str, max_parts: usize) -> Result<(), String> {
    let parts: Vec<&str> = name.split('.').collect();
    let identifier = |p: &&str| {
        let mut chars = p.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && p.len() <= 128
    };
    if parts.len() > max_parts || !parts.iter().all(identifier) {
        let shape = if max_parts > 1 {
            "dataset.table"
        } else {
            "a column"
        };
        return Err(format!(
            "{name:?} is not an identifier ({shape}: letters, digits, _)"
        ));
    }
    Ok(())
}

fn at_offset(text: &str, offset: usize, message: String) -> DomainError {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    DomainError::BadPipeline {
        line,
        column,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PROCESSORS;

    #[test]
    fn the_shipped_file_declares_the_compiled_in_processors() {
        let nba = nba();
        assert_eq!(nba.universe.expected, crate::game::EXPECTED_PLAYER_SQL);
        assert_eq!(nba.processors.len(), PROCESSORS.len());
        for (file, spec) in nba.processors.iter().zip(PROCESSORS.iter()) {
            assert_eq!(file.code, spec.code);
            assert_eq!(file.name, spec.name);
            assert_eq!(file.output_table, spec.output_table);
            assert_eq!(file.date_column, spec.date_column);
            assert_eq!(file.min_games, spec.min_games);
            assert_eq!(file.runs, Runs::Builtin);
            let ups: Vec<&str> = spec.depends_on.iter().map(|p| p.code()).collect();
            assert_eq!(file.depends_on, ups, "{}", spec.code);
        }
    }

    /// Where and why `text` is refused.
    fn refused(text: &str) -> Refusal {
        match Pipeline::parse(text) {
            Err(DomainError::BadPipeline { line, message, .. }) => Refusal { line, message },
            other => panic!("not refused as a pipeline: {other:?}"),
        }
    }

    #[derive(Debug)]
    struct Refusal {
        line: usize,
        message: String,
    }

    /// The shipped file with one line replaced.
    fn with(old: &str, new: &str) -> String {
        assert!(NBA_PIPELINE.contains(old), "{old}");
        NBA_PIPELINE.replacen(old, new, 1)
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn errors_name_the_line() {
        let text = with(
            r#"depends_on = ["PDC", "PSZA"]"#,
            r#"depends_on = ["PDC", "NOPE"]"#,
        );
        let e = refused(&text);
        assert_eq!(e.line, line_of(&text, "\"NOPE\""), "{e:?}");
        assert!(e.message.contains("NOPE"), "{e:?}");

        let text = with("min_games = 3", "min_games = \"three\"");
        assert_eq!(refused(&text).line, line_of(&text, "\"three\""));

        let text = with("runs = \"builtin\"", "runs = \"sometimes\"");
        assert_eq!(refused(&text).line, line_of(&text, "sometimes"));

        let text = with("min_games = 10", "min_games = 10\ncolour = \"red\"");
        let e = refused(&text);
        assert_eq!(e.line, line_of(&text, "colour"), "{e:?}");

        let e = refused("[universe\ntable = 1");
        assert_eq!(e.line, 1, "{e:?}");
    }

    #[test]
    fn hostile_names_duplicates_and_cycles_are_refused() {
        for (old, new) in [
            (
                r#"output_table = "nba_precompute.player_daily_cache""#,
                r#"output_table = "x; DROP TABLE jobs; --""#,
            ),
            (r#"date_column = "cache_date""#, r#"date_column = "a.b""#),
            (r#"code = "PDC""#, r#"code = "PSZA""#),
            (r#"code = "PDC""#, r#"code = "pdc""#),
            (
                r#"name = "PlayerDailyCacheProcessor""#,
                r#"name = "playershotzoneanalysisprocessor""#,
            ),
            (
                r#"expected = "is_active AND (minutes_played > 0 OR fg_attempts > 0)""#,
                r#"expected = "TRUE; DELETE FROM x""#,
            ),
        ] {
            let text = with(old, new);
            let e = refused(&text);
            let replaced = NBA_PIPELINE[..NBA_PIPELINE.find(old).unwrap()]
                .lines()
                .count()
                + 1;
            assert_eq!(e.line, replaced, "{new}: {e:?}");
        }
        // A processor may only depend on one declared before it: no cycles.
        let text = with(
            "min_games = 10\n",
            "min_games = 10\ndepends_on = [\"MLFS\"]\n",
        );
        assert!(refused(&text).message.contains("not declared before"));
    }
}
