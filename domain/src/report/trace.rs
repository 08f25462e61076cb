//! One player on one date across every processor.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{FailureCategory, ProcessorId};

/// One processor's answer for one player on one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceState {
    Record,
    Failure {
        category: FailureCategory,
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
    pub fn of(has_record: bool, failure: Option<TraceFailure>, expected: bool) -> Self {
        match (has_record, failure) {
            (true, _) => TraceState::Record,
            (false, Some(f)) if f.entity_id == crate::processors::DATE_LEVEL => {
                TraceState::DateLevel { reason: f.reason }
            }
            (false, Some(f)) => TraceState::Failure {
                category: FailureCategory::normalise(&f.raw_category),
                reason: f.reason,
                upstream_processor: f.upstream_processor,
                upstream_category: f.upstream_category,
            },
            (false, None) if expected => TraceState::Unaccounted,
            (false, None) => TraceState::NotExpected,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceLink {
    pub processor: ProcessorId,
    pub state: TraceState,
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
}

impl PlayerTrace {
    /// The first processor (in dependency order) that did not produce a record,
    /// following MISSING_UPSTREAM pointers to the upstream that caused it.
    pub fn root_cause(&self) -> Option<ProcessorId> {
        let mut current = self
            .links
            .iter()
            .find(|l| !matches!(l.state, TraceState::Record | TraceState::NotExpected))?;
        // Follow the named upstream while it, too, lacks a record.
        for _ in 0..self.links.len() {
            let TraceState::Failure {
                upstream_processor: Some(up),
                ..
            } = &current.state
            else {
                break;
            };
            match self
                .links
                .iter()
                .find(|l| l.processor.code() == up && !matches!(l.state, TraceState::Record))
            {
                Some(next) if next.processor != current.processor => current = next,
                _ => break,
            }
        }
        Some(current.processor)
    }
}
