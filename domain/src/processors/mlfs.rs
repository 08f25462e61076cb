//! MLFS: the 25-feature vector `v1_baseline_25` for the prediction model.

use super::{missing_upstream, round3, Ctx, MlfsRecord, PlayerOutcome};
use crate::game::PlayerGame;
use crate::Builtin;

pub const FEATURE_VERSION: &str = "v1_baseline_25";

/// Stored alongside the vectors so a consumer never guesses positions.
pub const FEATURE_NAMES: [&str; 25] = [
    "points_avg_last_5",
    "points_avg_last_10",
    "points_avg_season",
    "points_std_last_10",
    "minutes_avg_last_10",
    "usage_rate_last_10",
    "ts_pct_last_10",
    "games_in_last_7_days",
    "games_in_last_14_days",
    "minutes_in_last_7_days",
    "back_to_backs_last_14_days",
    "team_pace_last_10",
    "paint_rate_last_10",
    "mid_range_rate_last_10",
    "three_pt_rate_last_10",
    "paint_pct_last_10",
    "three_pt_pct_last_10",
    "attempts_per_game",
    "fatigue_score",
    "shot_zone_mismatch_score",
    "pace_score",
    "usage_spike_score",
    "total_composite_adjustment",
    "home_game",
    "early_season_flag",
];

pub(crate) fn compute(ctx: &Ctx, today: &PlayerGame) -> PlayerOutcome<MlfsRecord> {
    let player = &today.player_lookup;
    let up = ctx.upstream;
    // Name the first missing upstream in dependency order: that is the root of
    // the lineage a trace follows.
    let Some(psza) = up.psza.records.get(player) else {
        return PlayerOutcome::Failure(missing_upstream(
            ctx,
            player,
            Builtin::Psza,
            up.psza.category_of(player),
        ));
    };
    let Some(pdc) = up.pdc.records.get(player) else {
        return PlayerOutcome::Failure(missing_upstream(
            ctx,
            player,
            Builtin::Pdc,
            up.pdc.category_of(player),
        ));
    };
    let Some(pcf) = up.pcf.records.get(player) else {
        return PlayerOutcome::Failure(missing_upstream(
            ctx,
            player,
            Builtin::Pcf,
            up.pcf.category_of(player),
        ));
    };
    let mut missing = 0;
    let mut opt = |v: Option<f64>| {
        v.unwrap_or_else(|| {
            missing += 1;
            0.0
        })
    };
    let features = vec![
        pdc.points_avg_last_5,
        pdc.points_avg_last_10,
        pdc.points_avg_season,
        pdc.points_std_last_10,
        pdc.minutes_avg_last_10,
        opt(pdc.usage_rate_last_10),
        opt(pdc.ts_pct_last_10),
        pdc.games_in_last_7_days as f64,
        pdc.games_in_last_14_days as f64,
        pdc.minutes_in_last_7_days,
        pdc.back_to_backs_last_14_days as f64,
        opt(pdc.team_pace_last_10),
        psza.paint_rate_last_10,
        psza.mid_range_rate_last_10,
        psza.three_pt_rate_last_10,
        opt(psza.paint_pct_last_10),
        opt(psza.three_pt_pct_last_10),
        psza.attempts_per_game,
        pcf.fatigue_score,
        pcf.shot_zone_mismatch_score,
        pcf.pace_score,
        pcf.usage_spike_score,
        pcf.total_composite_adjustment,
        if today.home_game { 1.0 } else { 0.0 },
        if pdc.early_season_flag { 1.0 } else { 0.0 },
    ];
    debug_assert_eq!(features.len(), FEATURE_NAMES.len());
    let quality = 100.0 - 4.0 * missing as f64 - if pdc.early_season_flag { 10.0 } else { 0.0 };
    PlayerOutcome::Record(MlfsRecord {
        player_lookup: player.clone(),
        game_date: ctx.date,
        feature_version: FEATURE_VERSION.into(),
        features,
        feature_quality_score: round3(quality.max(0.0)),
    })
}
