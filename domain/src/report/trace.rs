//! One player on one date across every processor.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::pipeline::Pipeline;
use crate::ProcessorId;

/// One processor's answer for one player on one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceState {
    Record,
    Failure {
        /// The code the pipeline's taxonomy reads the category as.
        code: String,
        /// Whether that is an expected gap.
        expected: bool,
        reason: String,
        upstream_processor: Option<String>,
        upstream_category: Option<String>,
    },
    DateLevel {
        reason: String,
    },
    Unaccounted,
    NotExpected,
}

/// A failure row as the player trace reads it (any warehouse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceFailure {
    /// The player, or `DATE_LEVEL`.
    pub entity_id: String,
    /// The category as written (normalised here).
    pub raw_category: String,
    pub reason: String,
    pub upstream_processor: Option<String>,
    pub upstream_category: Option<String>,
}

impl TraceState {
    /// One processor's answer for the player: a record wins, then the failure
    /// (date-level or the player's own), else unaccounted if they were expected.
    pub fn of(
        taxonomy: &crate::failure::Taxonomy,
        has_record: bool,
        failure: Option<TraceFailure>,
        expected: bool,
    ) -> Self {
        match (has_record, failure) {
            (true, _) => TraceState::Record,
            (false, Some(f)) if f.entity_id == crate::processors::DATE_LEVEL => {
                TraceState::DateLevel { reason: f.reason }
            }
            (false, Some(f)) => {
                let (code, expected) = taxonomy.read(&f.raw_category);
                TraceState::Failure {
                    code,
                    expected,
                    reason: f.reason,
                    upstream_processor: f.upstream_processor,
                    upstream_category: f.upstream_category,
                }
            }
            (false, None) if expected => TraceState::Unaccounted,
            (false, None) => TraceState::NotExpected,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceLink {
    pub processor: ProcessorId,
    pub state: TraceState,
    /// The processor's latest run for the date, when it failed: the link's
    /// state is then an earlier run's rows, or nothing because of the crash.
    #[serde(default)]
    pub failed_run: Option<super::LastRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerTrace {
    pub player_lookup: String,
    pub date: NaiveDate,
    pub expected: bool,
    /// In dependency order.
    pub links: Vec<TraceLink>,
    /// The player's last games up to and including the date, newest first.
    pub recent_games: Vec<crate::game::PlayerGame>,
    /// Root causes as [`PlayerTrace::explain`] finds them: filled on the
    /// server, so the browser carries no DAG walk.
    #[serde(default)]
    pub explained: Option<TraceExplanation>,
}

/// What explains a trace: its root cause, whether that needs investigating,
/// and each link's root (in link order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceExplanation {
    pub root: Option<ProcessorId>,
    pub investigate: bool,
    pub roots: Vec<Option<ProcessorId>>,
}

impl PlayerTrace {
    /// [`Self::root_cause`], [`Self::root_needs_investigation`] and each
    /// link's [`Self::root_of`], together.
    pub fn explain(&self, pipeline: &Pipeline) -> TraceExplanation {
        TraceExplanation {
            root: self.root_cause(pipeline),
            investigate: self.root_needs_investigation(pipeline),
            roots: self
                .links
                .iter()
                .map(|l| self.root_of(pipeline, l))
                .collect(),
        }
    }

    /// What explains `link`'s missing record, along the processor's own
    /// upstreams in the pipeline's DAG: a failure that names an upstream
    /// the processor depends on (directly or not) and that lacks a record
    /// is explained by that upstream's own root; any other failure, a
    /// date-level failure and an unaccounted link are their own root. A
    /// record, or an entity not expected, has none.
    pub fn root_of(&self, pipeline: &Pipeline, link: &TraceLink) -> Option<ProcessorId> {
        let mut current = link;
        // Each step moves strictly up the DAG, so the walk ends; the bound
        // is for a corrupt upstream name.
        for _ in 0..=self.links.len() {
            match &current.state {
                TraceState::Record | TraceState::NotExpected => return None,
                TraceState::Failure {
                    upstream_processor: Some(up),
                    ..
                } => {
                    let upstream = self.links.iter().find(|l| {
                        pipeline.code(l.processor) == up
                            && pipeline.upstreams(current.processor).contains(&l.processor)
                            && !matches!(l.state, TraceState::Record | TraceState::NotExpected)
                    });
                    match upstream {
                        Some(next) => current = next,
                        None => return Some(current.processor),
                    }
                }
                _ => return Some(current.processor),
            }
        }
        Some(current.processor)
    }

    /// The link to look at first, or none when every link is accounted for
    /// on its own (records, expected failures that explain nothing else).
    /// A link with nothing to say for itself (unaccounted) or an error to
    /// investigate is its own root and comes first, in dependency order;
    /// then the root of a chain of failures (PSZA INSUFFICIENT_DATA → PCF
    /// MISSING_UPSTREAM → MLFS MISSING_UPSTREAM: PSZA).
    pub fn root_cause(&self, pipeline: &Pipeline) -> Option<ProcessorId> {
        let investigate = self.links.iter().find(|l| match &l.state {
            TraceState::Unaccounted => true,
            TraceState::Failure { expected, .. } => !expected,
            _ => false,
        });
        if let Some(l) = investigate {
            return Some(l.processor);
        }
        self.links
            .iter()
            .filter_map(|l| {
                self.root_of(pipeline, l)
                    .filter(|root| *root != l.processor)
            })
            .next()
    }

    /// Whether the root cause needs investigating (unaccounted, or a
    /// category that is not expected) rather than being an expected gap.
    pub fn root_needs_investigation(&self, pipeline: &Pipeline) -> bool {
        let Some(root) = self.root_cause(pipeline) else {
            return false;
        };
        self.links.iter().any(|l| {
            l.processor == root
                && match &l.state {
                    TraceState::Unaccounted => true,
                    TraceState::Failure { expected, .. } => !expected,
                    _ => false,
                }
        })
    }
}
