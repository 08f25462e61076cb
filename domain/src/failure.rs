//! The failure taxonomy: one enum, one table. Category strings written by other
//! tools are normalised through [`ALIASES`]; anything unrecognised becomes
//! [`FailureCategory::Unknown`] (the raw string is kept by the caller) so a row is
//! never dropped because its category is odd.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FailureCategory {
    InsufficientData,
    IncompleteData,
    MissingDependencies,
    MissingUpstream,
    NoShotZone,
    MinimumThresholdNotMet,
    ProcessingError,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureLevel {
    Player,
    Date,
    Any,
}

pub struct CategoryInfo {
    pub category: FailureCategory,
    pub code: &'static str,
    /// `true`: an expected gap; `false`: needs investigation.
    pub expected: bool,
    pub level: FailureLevel,
    pub meaning: &'static str,
}

pub const CATEGORIES: [CategoryInfo; 8] = [
    CategoryInfo {
        category: FailureCategory::InsufficientData,
        code: "INSUFFICIENT_DATA",
        expected: true,
        level: FailureLevel::Player,
        meaning: "not enough history (early in a season or a series)",
    },
    CategoryInfo {
        category: FailureCategory::IncompleteData,
        code: "INCOMPLETE_DATA",
        expected: true,
        level: FailureLevel::Player,
        meaning: "the history window has gaps in upstream data",
    },
    CategoryInfo {
        category: FailureCategory::MissingDependencies,
        code: "MISSING_DEPENDENCIES",
        expected: true,
        level: FailureLevel::Date,
        meaning: "an upstream table has no / too few rows for the date",
    },
    CategoryInfo {
        category: FailureCategory::MissingUpstream,
        code: "MISSING_UPSTREAM",
        expected: true,
        level: FailureLevel::Player,
        meaning: "the entity has no upstream record (the failure names the upstream)",
    },
    CategoryInfo {
        category: FailureCategory::NoShotZone,
        code: "NO_SHOT_ZONE",
        expected: true,
        level: FailureLevel::Player,
        meaning: "no shot attempts in the window",
    },
    CategoryInfo {
        category: FailureCategory::MinimumThresholdNotMet,
        code: "MINIMUM_THRESHOLD_NOT_MET",
        expected: true,
        level: FailureLevel::Date,
        meaning: "upstream row count below the processor's threshold",
    },
    CategoryInfo {
        category: FailureCategory::ProcessingError,
        code: "PROCESSING_ERROR",
        expected: false,
        level: FailureLevel::Player,
        meaning: "an exception or corrupt input",
    },
    CategoryInfo {
        category: FailureCategory::Unknown,
        code: "UNKNOWN",
        expected: false,
        level: FailureLevel::Any,
        meaning: "a category string Rollcall does not recognise",
    },
];

/// Legacy and foreign spellings seen in warehouses written by other tools.
pub const ALIASES: [(&str, FailureCategory); 9] = [
    ("MISSING_DEPENDENCY", FailureCategory::MissingDependencies),
    ("DEPENDENCY_MISSING", FailureCategory::MissingDependencies),
    ("CALCULATION_ERROR", FailureCategory::ProcessingError),
    ("PROCESSING_FAILED", FailureCategory::ProcessingError),
    ("ERROR", FailureCategory::ProcessingError),
    ("INSUFFICIENT_GAMES", FailureCategory::InsufficientData),
    ("UPSTREAM_MISSING", FailureCategory::MissingUpstream),
    ("NO_SHOTS", FailureCategory::NoShotZone),
    ("BELOW_THRESHOLD", FailureCategory::MinimumThresholdNotMet),
];

/// Every accepted spelling of a category — the canonical codes and the legacy
/// aliases — with its canonical code and whether it is an expected gap. Both
/// warehouses normalise stored strings in SQL through this one list.
pub fn spellings() -> impl Iterator<Item = (&'static str, &'static str, bool)> {
    CATEGORIES
        .iter()
        .map(|c| (c.code, c.code, c.expected))
        .chain(
            ALIASES
                .iter()
                .map(|(alias, cat)| (*alias, cat.code(), cat.is_expected())),
        )
}

/// The lookup key of a stored category string: spaces trimmed, `-` and ` `
/// turned into `_`, upper-cased. [`NORMALISED_CATEGORY_SQL`] is the same
/// function in SQL, so what a warehouse groups by and what Rust looks up agree.
pub fn normalised_key(raw: &str) -> String {
    raw.trim_matches(' ')
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .collect::<String>()
        .to_uppercase()
}

/// [`normalised_key`] of the `failure_category` column, valid in both DuckDB
/// and BigQuery (`trim(x, ' ')` trims spaces only in both).
pub const NORMALISED_CATEGORY_SQL: &str =
    "upper(replace(replace(trim(coalesce(failure_category, ''), ' '), '-', '_'), ' ', '_'))";

/// The code the `failure_category` column counts as under `taxonomy`
/// (`'UNKNOWN'` for a spelling neither it nor Rollcall knows):
/// [`Taxonomy::code_of_key`] in SQL, valid in DuckDB and BigQuery.
pub fn category_code_sql(taxonomy: &Taxonomy) -> String {
    let arms: String = taxonomy
        .spellings()
        .map(|(raw, code, _)| format!(" WHEN '{raw}' THEN '{code}'"))
        .collect();
    format!("CASE {NORMALISED_CATEGORY_SQL}{arms} ELSE 'UNKNOWN' END")
}

/// A pipeline's own spellings on top of the built-in table (`[categories]`):
/// the team says which of its categories are expected gaps, or which
/// built-in category a spelling means. A declared spelling wins over a
/// built-in alias; the canonical codes keep Rollcall's meaning.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Taxonomy {
    declared: Vec<Declared>,
}

/// One `[categories]` line: a normalised spelling, the code it counts as
/// (its own for `"expected"`/`"investigate"`, else a canonical code) and
/// whether that is an expected gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Declared {
    spelling: String,
    code: String,
    expected: bool,
}

/// The longest spelling `[categories]` may declare.
pub const MAX_SPELLING_LEN: usize = 64;

impl Taxonomy {
    /// Adds `raw = meaning` (`"expected"`, `"investigate"` or a canonical
    /// code). `Err`: why the line is refused.
    pub fn declare(&mut self, raw: &str, meaning: &str) -> Result<(), String> {
        let spelling = normalised_key(raw);
        let plain = !spelling.is_empty()
            && spelling.len() <= MAX_SPELLING_LEN
            && spelling
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return Err(format!(
                "category {raw:?}: 1 to {MAX_SPELLING_LEN} letters, digits, `_`, `-` or spaces"
            ));
        }
        if CATEGORIES.iter().any(|c| c.code == spelling) {
            return Err(format!(
                "{spelling} is one of Rollcall's own categories; its meaning is fixed \
                 (declare the team's spellings)"
            ));
        }
        if self.declared.iter().any(|d| d.spelling == spelling) {
            return Err(format!("category {spelling} is declared twice"));
        }
        let (code, expected) = match meaning {
            "expected" => (spelling.clone(), true),
            "investigate" => (spelling.clone(), false),
            other => {
                let Some(c) = CATEGORIES.iter().find(|c| c.code == normalised_key(other)) else {
                    return Err(format!(
                        "{spelling} = {other:?}: \"expected\", \"investigate\" or one of \
                         Rollcall's categories ({})",
                        CATEGORIES.map(|c| c.code).join(", ")
                    ));
                };
                (c.code.to_string(), c.expected)
            }
        };
        self.declared.push(Declared {
            spelling,
            code,
            expected,
        });
        Ok(())
    }

    /// Every accepted spelling with its code and whether it is an expected
    /// gap: the declared ones first, then the built-in ones they leave.
    pub fn spellings(&self) -> impl Iterator<Item = (&str, &str, bool)> + '_ {
        let declared = self
            .declared
            .iter()
            .map(|d| (d.spelling.as_str(), d.code.as_str(), d.expected));
        let built_in = spellings()
            .filter(|(raw, _, _)| self.declared.iter().all(|d| d.spelling != *raw))
            .map(|(raw, code, expected)| -> (&str, &str, bool) { (raw, code, expected) });
        declared.chain(built_in)
    }

    /// The code a normalised spelling counts as, and whether it is an
    /// expected gap (`UNKNOWN`, to investigate, for an unknown one).
    pub fn code_of_key(&self, key: &str) -> (&str, bool) {
        self.spellings()
            .find(|(raw, _, _)| *raw == key)
            .map(|(_, code, expected)| (code, expected))
            .unwrap_or((FailureCategory::Unknown.code(), false))
    }

    /// [`Taxonomy::code_of_key`] of a category as written.
    pub fn read(&self, raw: &str) -> (String, bool) {
        let (code, expected) = self.code_of_key(&normalised_key(raw));
        (code.to_string(), expected)
    }

    /// Whether a code (as [`Taxonomy::code_of_key`] gives) is an expected gap.
    pub fn is_expected_code(&self, code: &str) -> bool {
        match self.declared.iter().find(|d| d.code == code) {
            Some(d) => d.expected,
            None => FailureCategory::from_key(code).is_expected(),
        }
    }

    /// Whether the pipeline declares no spellings of its own.
    pub fn is_builtin(&self) -> bool {
        self.declared.is_empty()
    }

    /// The declared lines, as (spelling, code, expected), for listings.
    pub fn declared(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.declared
            .iter()
            .map(|d| (d.spelling.as_str(), d.code.as_str(), d.expected))
    }
}

impl FailureCategory {
    pub fn info(self) -> &'static CategoryInfo {
        CATEGORIES
            .iter()
            .find(|c| c.category == self)
            .expect("every category is in CATEGORIES")
    }
    pub fn code(self) -> &'static str {
        self.info().code
    }
    pub fn is_expected(self) -> bool {
        self.info().expected
    }
    pub fn level(self) -> FailureLevel {
        self.info().level
    }
    pub fn all() -> impl Iterator<Item = FailureCategory> {
        CATEGORIES.iter().map(|c| c.category)
    }

    /// Normalises a category string from any writer. Never fails.
    pub fn normalise(raw: &str) -> FailureCategory {
        Self::from_key(&normalised_key(raw))
    }

    /// The category of an already normalised spelling ([`normalised_key`]):
    /// a canonical code or an alias, else `Unknown`.
    pub fn from_key(key: &str) -> FailureCategory {
        spellings()
            .find(|(spelling, _, _)| *spelling == key)
            .and_then(|(_, code, _)| CATEGORIES.iter().find(|c| c.code == code))
            .map(|c| c.category)
            .unwrap_or(FailureCategory::Unknown)
    }
}

impl std::fmt::Display for FailureCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_codes_round_trip() {
        for c in FailureCategory::all() {
            assert_eq!(FailureCategory::normalise(c.code()), c);
        }
    }

    #[test]
    fn legacy_spellings_and_unknowns() {
        use FailureCategory::*;
        for (raw, want) in [
            ("MISSING_DEPENDENCY", MissingDependencies),
            ("calculation_error", ProcessingError),
            ("insufficient-data", InsufficientData),
            ("  no shots ", NoShotZone),
            ("WEIRD_THING", Unknown),
            ("", Unknown),
            // Only spaces are trimmed, as SQL's trim(x, ' ') does.
            ("\tERROR", Unknown),
        ] {
            assert_eq!(FailureCategory::normalise(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn a_pipeline_declares_spellings_on_top_of_the_built_in_table() {
        let mut t = Taxonomy::default();
        t.declare("CIRCUIT_BREAKER_ACTIVE", "expected").unwrap();
        t.declare("incomplete-upstream", "MISSING_UPSTREAM")
            .unwrap();
        t.declare("MISSING_DEPENDENCY", "investigate").unwrap();
        assert_eq!(
            t.read("circuit_breaker_active"),
            ("CIRCUIT_BREAKER_ACTIVE".into(), true)
        );
        assert_eq!(
            t.read("INCOMPLETE_UPSTREAM"),
            ("MISSING_UPSTREAM".into(), true)
        );
        // The team's call wins over a built-in alias…
        assert_eq!(
            t.read("MISSING_DEPENDENCY"),
            ("MISSING_DEPENDENCY".into(), false)
        );
        assert!(!t.is_expected_code("MISSING_DEPENDENCY"));
        // …and the rest of the built-in table stays.
        assert_eq!(
            t.read("calculation_error"),
            ("PROCESSING_ERROR".into(), false)
        );
        assert_eq!(t.read("NO_SHOTS"), ("NO_SHOT_ZONE".into(), true));
        assert_eq!(t.read("EXPECTED_INCOMPLETE"), ("UNKNOWN".into(), false));
        assert!(t.is_expected_code("CIRCUIT_BREAKER_ACTIVE"));
        let sql = category_code_sql(&t);
        assert!(
            sql.find("'CIRCUIT_BREAKER_ACTIVE'").unwrap()
                < sql.find("'INSUFFICIENT_DATA'").unwrap()
        );
        assert_eq!(sql.matches("WHEN 'MISSING_DEPENDENCY'").count(), 1);
    }

    #[test]
    fn a_declaration_is_refused_for_a_canonical_code_a_repeat_or_an_odd_meaning() {
        let mut t = Taxonomy::default();
        assert!(t
            .declare("PROCESSING_ERROR", "expected")
            .unwrap_err()
            .contains("fixed"));
        assert!(t.declare("it's", "expected").is_err());
        assert!(t.declare("", "expected").is_err());
        assert!(t
            .declare("X", "maybe")
            .unwrap_err()
            .contains("INSUFFICIENT_DATA"));
        t.declare("X", "expected").unwrap();
        assert!(t.declare("x", "investigate").unwrap_err().contains("twice"));
    }

    #[test]
    fn only_processing_error_and_unknown_need_investigation() {
        let investigate: Vec<_> = FailureCategory::all()
            .filter(|c| !c.is_expected())
            .collect();
        assert_eq!(
            investigate,
            vec![FailureCategory::ProcessingError, FailureCategory::Unknown]
        );
    }
}
