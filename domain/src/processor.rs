//! The processors, declared once. The DAG, the heatmap rows, the CLI and the
//! re-run ordering all read [`PROCESSORS`]; nothing else lists them.

use serde::{Deserialize, Serialize};

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProcessorId {
    Psza,
    Pdc,
    Pcf,
    Mlfs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessorSpec {
    pub id: ProcessorId,
    /// Short code used in URLs, the CLI and the heatmap (`PDC`).
    pub code: &'static str,
    /// The class name the real pipeline writes into `processor_name` columns.
    pub name: &'static str,
    /// Fully qualified output table (`dataset.table`).
    pub output_table: &'static str,
    /// The output table's date column (its partition column).
    pub date_column: &'static str,
    /// Upstream processors; an empty list means "Phase 3 only".
    pub depends_on: &'static [ProcessorId],
    /// Minimum prior games for a record.
    pub min_games: usize,
}

/// In dependency order: every processor comes after all of its upstreams.
pub const PROCESSORS: [ProcessorSpec; 4] = [
    ProcessorSpec {
        id: ProcessorId::Psza,
        code: "PSZA",
        name: "PlayerShotZoneAnalysisProcessor",
        output_table: "nba_precompute.player_shot_zone_analysis",
        date_column: "analysis_date",
        depends_on: &[],
        min_games: 10,
    },
    ProcessorSpec {
        id: ProcessorId::Pdc,
        code: "PDC",
        name: "PlayerDailyCacheProcessor",
        output_table: "nba_precompute.player_daily_cache",
        date_column: "cache_date",
        depends_on: &[],
        min_games: 3,
    },
    ProcessorSpec {
        id: ProcessorId::Pcf,
        code: "PCF",
        name: "PlayerCompositeFactorsProcessor",
        output_table: "nba_precompute.player_composite_factors",
        date_column: "game_date",
        depends_on: &[ProcessorId::Pdc, ProcessorId::Psza],
        min_games: 0,
    },
    ProcessorSpec {
        id: ProcessorId::Mlfs,
        code: "MLFS",
        name: "MLFeatureStoreProcessor",
        output_table: "nba_predictions.ml_feature_store_v2",
        date_column: "game_date",
        depends_on: &[ProcessorId::Psza, ProcessorId::Pdc, ProcessorId::Pcf],
        min_games: 0,
    },
];

/// How `processor_name` columns may spell each processor (code or class name,
/// compared upper-cased), with the processor's code and its bit (`1 << order`)
/// in the reconciliation masks of both warehouses.
pub fn name_spellings() -> impl Iterator<Item = (String, &'static str, u32)> {
    PROCESSORS.iter().flat_map(|s| {
        let bit = 1u32 << s.id.order();
        [s.code, s.name].map(|raw| (raw.to_uppercase(), s.code, bit))
    })
}

impl ProcessorId {
    pub fn spec(self) -> &'static ProcessorSpec {
        PROCESSORS
            .iter()
            .find(|p| p.id == self)
            .expect("every ProcessorId is declared in PROCESSORS")
    }
    pub fn code(self) -> &'static str {
        self.spec().code
    }
    pub fn name(self) -> &'static str {
        self.spec().name
    }
    /// Position in dependency order.
    pub fn order(self) -> usize {
        PROCESSORS
            .iter()
            .position(|p| p.id == self)
            .unwrap_or(usize::MAX)
    }
    pub fn all() -> impl Iterator<Item = ProcessorId> {
        PROCESSORS.iter().map(|p| p.id)
    }

    /// Accepts the short code or the class name, case-insensitively.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let t = raw.trim();
        PROCESSORS
            .iter()
            .find(|p| p.code.eq_ignore_ascii_case(t) || p.name.eq_ignore_ascii_case(t))
            .map(|p| p.id)
            .ok_or_else(|| DomainError::UnknownProcessor(t.chars().take(40).collect()))
    }

    /// Parses a comma-separated list (`PDC,PCF`), deduplicated, in dependency order.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, DomainError> {
        let mut out = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let id = Self::parse(part)?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        if out.is_empty() {
            return Err(DomainError::UnknownProcessor(
                raw.chars().take(40).collect(),
            ));
        }
        out.sort_by_key(|p| p.order());
        Ok(out)
    }

    /// Every processor that depends on `self`, directly or transitively, in order.
    pub fn downstream(self) -> Vec<ProcessorId> {
        let mut out: Vec<ProcessorId> = Vec::new();
        for spec in PROCESSORS.iter() {
            let depends = spec
                .depends_on
                .iter()
                .any(|up| *up == self || out.contains(up));
            if depends {
                out.push(spec.id);
            }
        }
        out
    }

    /// `set` plus everything downstream of it, in dependency order.
    pub fn with_downstream(set: &[ProcessorId]) -> Vec<ProcessorId> {
        let mut out: Vec<ProcessorId> = set.to_vec();
        for p in set {
            for d in p.downstream() {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        out.sort_by_key(|p| p.order());
        out
    }
}

impl std::fmt::Display for ProcessorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declaration_is_in_dependency_order() {
        for (i, spec) in PROCESSORS.iter().enumerate() {
            for up in spec.depends_on {
                assert!(
                    up.order() < i,
                    "{} depends on later {}",
                    spec.code,
                    up.code()
                );
            }
        }
    }

    #[test]
    fn parses_codes_and_class_names() {
        assert_eq!(ProcessorId::parse("pdc").unwrap(), ProcessorId::Pdc);
        assert_eq!(
            ProcessorId::parse("MLFeatureStoreProcessor").unwrap(),
            ProcessorId::Mlfs
        );
        assert!(ProcessorId::parse("XYZ").is_err());
        assert_eq!(
            ProcessorId::parse_list("MLFS, PDC,PDC").unwrap(),
            vec![ProcessorId::Pdc, ProcessorId::Mlfs]
        );
        assert!(ProcessorId::parse_list(" , ").is_err());
    }

    #[test]
    fn downstream_follows_the_dag() {
        assert_eq!(
            ProcessorId::Pdc.downstream(),
            vec![ProcessorId::Pcf, ProcessorId::Mlfs]
        );
        assert_eq!(ProcessorId::Pcf.downstream(), vec![ProcessorId::Mlfs]);
        assert!(ProcessorId::Mlfs.downstream().is_empty());
        assert_eq!(
            ProcessorId::with_downstream(&[ProcessorId::Psza]),
            vec![ProcessorId::Psza, ProcessorId::Pcf, ProcessorId::Mlfs]
        );
    }
}
