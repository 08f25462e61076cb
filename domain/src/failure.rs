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

/// The canonical code of the `failure_category` column (`'UNKNOWN'` for a
/// spelling Rollcall does not know): [`FailureCategory::normalise`] in SQL,
/// valid in DuckDB and BigQuery.
pub fn category_code_sql() -> String {
    let arms: String = spellings()
        .map(|(raw, code, _)| format!(" WHEN '{raw}' THEN '{code}'"))
        .collect();
    format!("CASE {NORMALISED_CATEGORY_SQL}{arms} ELSE 'UNKNOWN' END")
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
