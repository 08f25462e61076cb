use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::Builtin;

/// `nba_precompute.player_shot_zone_analysis`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PszaRecord {
    pub player_lookup: String,
    pub analysis_date: NaiveDate,
    pub paint_rate_last_10: f64,
    pub mid_range_rate_last_10: f64,
    pub three_pt_rate_last_10: f64,
    pub paint_pct_last_10: Option<f64>,
    pub mid_range_pct_last_10: Option<f64>,
    pub three_pt_pct_last_10: Option<f64>,
    pub paint_rate_last_20: Option<f64>,
    pub paint_pct_last_20: Option<f64>,
    pub attempts_per_game: f64,
    pub total_shots_last_10: i32,
    pub games_in_sample: i32,
    pub primary_scoring_zone: String,
    pub sample_quality: String,
}

/// `nba_precompute.player_daily_cache`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PdcRecord {
    pub player_lookup: String,
    pub cache_date: NaiveDate,
    pub points_avg_last_5: f64,
    pub points_avg_last_10: f64,
    pub points_avg_season: f64,
    pub points_std_last_10: f64,
    pub minutes_avg_last_10: f64,
    pub usage_rate_last_10: Option<f64>,
    pub ts_pct_last_10: Option<f64>,
    pub games_played_season: i32,
    pub games_in_last_7_days: i32,
    pub games_in_last_14_days: i32,
    pub minutes_in_last_7_days: f64,
    pub minutes_in_last_14_days: f64,
    pub back_to_backs_last_14_days: i32,
    pub team_pace_last_10: Option<f64>,
    pub early_season_flag: bool,
}

/// `nba_precompute.player_composite_factors`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcfRecord {
    pub player_lookup: String,
    pub game_date: NaiveDate,
    pub opponent_team_abbr: String,
    pub fatigue_score: f64,
    pub shot_zone_mismatch_score: f64,
    pub pace_score: f64,
    pub usage_spike_score: f64,
    pub total_composite_adjustment: f64,
}

/// `nba_predictions.ml_feature_store_v2`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlfsRecord {
    pub player_lookup: String,
    pub game_date: NaiveDate,
    pub feature_version: String,
    pub features: Vec<f64>,
    pub feature_quality_score: f64,
}

/// One row a command processor printed: its entity and its values, in the
/// order of the processor's declared columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityRow {
    pub entity: String,
    pub values: Vec<Value>,
}

pub use crate::processor::Value;

/// The records of one cell, typed by processor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Records {
    Psza(Vec<PszaRecord>),
    Pdc(Vec<PdcRecord>),
    Pcf(Vec<PcfRecord>),
    Mlfs(Vec<MlfsRecord>),
    /// A command processor's rows (its table's columns come from the pipeline).
    Rows(Vec<EntityRow>),
}

impl Records {
    pub fn empty(b: Builtin) -> Self {
        match b {
            Builtin::Psza => Records::Psza(Vec::new()),
            Builtin::Pdc => Records::Pdc(Vec::new()),
            Builtin::Pcf => Records::Pcf(Vec::new()),
            Builtin::Mlfs => Records::Mlfs(Vec::new()),
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Records::Psza(v) => v.len(),
            Records::Pdc(v) => v.len(),
            Records::Pcf(v) => v.len(),
            Records::Mlfs(v) => v.len(),
            Records::Rows(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn players(&self) -> Vec<&str> {
        match self {
            Records::Psza(v) => v.iter().map(|r| r.player_lookup.as_str()).collect(),
            Records::Pdc(v) => v.iter().map(|r| r.player_lookup.as_str()).collect(),
            Records::Pcf(v) => v.iter().map(|r| r.player_lookup.as_str()).collect(),
            Records::Mlfs(v) => v.iter().map(|r| r.player_lookup.as_str()).collect(),
            Records::Rows(v) => v.iter().map(|r| r.entity.as_str()).collect(),
        }
    }
}
