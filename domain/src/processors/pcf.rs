//! PCF: composite adjustment factors for tonight's game, built on PDC and PSZA.

use chrono::Duration;

use super::{mean, missing_upstream, pdc, round3, Ctx, PcfRecord, PlayerOutcome};
use crate::game::PlayerGame;
use crate::Builtin;

/// League reference values the scores are measured against.
const LEAGUE_PACE: f64 = 100.0;
const LEAGUE_ALLOWED: [f64; 3] = [0.42, 0.20, 0.38]; // paint, mid, three

pub(crate) fn compute(ctx: &Ctx, today: &PlayerGame) -> PlayerOutcome<PcfRecord> {
    let player = &today.player_lookup;
    let up = ctx.upstream;
    let Some(pdc) = up.pdc.records.get(player) else {
        return PlayerOutcome::Failure(missing_upstream(
            ctx,
            player,
            Builtin::Pdc,
            up.pdc.category_of(player),
        ));
    };
    let Some(psza) = up.psza.records.get(player) else {
        return PlayerOutcome::Failure(missing_upstream(
            ctx,
            player,
            Builtin::Psza,
            up.psza.category_of(player),
        ));
    };
    let d = ctx.date;
    let history = ctx.index.history(player, today.season_year, d);
    let played_yesterday = history
        .last()
        .map(|g| d - g.game_date == Duration::days(1))
        .unwrap_or(false);
    let fatigue = (pdc.games_in_last_7_days as f64 * 10.0
        + pdc.minutes_in_last_7_days * 0.25
        + if played_yesterday { 15.0 } else { 0.0 })
    .clamp(0.0, 100.0);

    let opp = ctx.index.team_history(&today.opponent_team_abbr, d);
    let opp10 = &opp[opp.len().saturating_sub(10)..];
    let allowed: [i64; 3] = opp10.iter().fold([0; 3], |a, t| {
        [
            a[0] + t.allowed_paint,
            a[1] + t.allowed_mid,
            a[2] + t.allowed_three,
        ]
    });
    let allowed_total = (allowed[0] + allowed[1] + allowed[2]) as f64;
    let mismatch = if allowed_total > 0.0 {
        let player_rates = [
            psza.paint_rate_last_10,
            psza.mid_range_rate_last_10,
            psza.three_pt_rate_last_10,
        ];
        let edge: f64 = (0..3)
            .map(|z| player_rates[z] * (allowed[z] as f64 / allowed_total - LEAGUE_ALLOWED[z]))
            .sum();
        (edge * 100.0).clamp(-10.0, 10.0)
    } else {
        0.0
    };

    let own_pace = pdc.team_pace_last_10;
    let opp_pace = mean(opp10.iter().map(|t| t.possessions));
    let pace = match (own_pace, opp_pace) {
        (Some(a), Some(b)) => (((a + b) / 2.0 - LEAGUE_PACE) / 3.0).clamp(-3.0, 3.0),
        _ => 0.0,
    };
    let usage_spike = match (pdc::recent_usage(&history), pdc.usage_rate_last_10) {
        (Some(recent), Some(norm)) => ((recent - norm) / 2.0).clamp(-3.0, 3.0),
        _ => 0.0,
    };
    let fatigue_adj = -(fatigue - 50.0).max(0.0) / 25.0;
    PlayerOutcome::Record(PcfRecord {
        player_lookup: player.clone(),
        game_date: d,
        opponent_team_abbr: today.opponent_team_abbr.clone(),
        fatigue_score: round3(fatigue),
        shot_zone_mismatch_score: round3(mismatch),
        pace_score: round3(pace),
        usage_spike_score: round3(usage_spike),
        total_composite_adjustment: round3(mismatch * 0.5 + pace + usage_spike + fatigue_adj),
    })
}
