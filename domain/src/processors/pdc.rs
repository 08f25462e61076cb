//! PDC: the player's daily cache of recent form, workload and team pace.

use chrono::Duration;

use super::{history_or_insufficient, mean, round3, Ctx, FailureRecord, PdcRecord, PlayerOutcome};
use crate::game::PlayerGame;
use crate::{Builtin, FailureCategory};

pub(crate) fn compute(ctx: &Ctx, today: &PlayerGame) -> PlayerOutcome<PdcRecord> {
    let player = &today.player_lookup;
    let d = ctx.date;
    let history = match history_or_insufficient(ctx, today, Builtin::Pdc) {
        Ok(h) => h,
        Err(f) => return PlayerOutcome::Failure(f),
    };
    let n = history.len();
    for g in &history {
        if let Some(bad) = g.corruption() {
            return PlayerOutcome::Failure(FailureRecord::player(
                player,
                FailureCategory::ProcessingError,
                bad,
            ));
        }
    }
    let last10 = &history[n.saturating_sub(10)..];
    let last5 = &history[n.saturating_sub(5)..];
    // A team game inside the window that upstream never delivered makes the
    // rolling numbers silently wrong: say so instead.
    if let Some(missing) = ctx
        .index
        .missing_game(&today.team_abbr, last10[0].game_date, d)
    {
        return PlayerOutcome::Failure(FailureRecord::player(
            player,
            FailureCategory::IncompleteData,
            format!("team game {missing} is missing from player_game_summary"),
        ));
    }
    let pts = |gs: &[&PlayerGame]| mean(gs.iter().map(|g| g.pts() as f64)).unwrap_or(0.0);
    let avg10 = pts(last10);
    let std10 = mean(last10.iter().map(|g| (g.pts() as f64 - avg10).powi(2)))
        .unwrap_or(0.0)
        .sqrt();
    let within = |days: i64| {
        let from = d - Duration::days(days);
        history.iter().filter(move |g| g.game_date >= from)
    };
    let b2b = {
        let from = d - Duration::days(14);
        let dates: Vec<_> = history
            .iter()
            .map(|g| g.game_date)
            .filter(|x| *x >= from)
            .collect();
        dates
            .windows(2)
            .filter(|w| w[1] - w[0] == Duration::days(1))
            .count() as i32
    };
    let (ts_pts, ts_fga, ts_fta) = last10.iter().fold((0i64, 0i64, 0i64), |acc, g| {
        (
            acc.0 + g.pts() as i64,
            acc.1 + g.fga() as i64,
            acc.2 + g.fta() as i64,
        )
    });
    let ts_den = 2.0 * (ts_fga as f64 + 0.44 * ts_fta as f64);
    let team = ctx.index.team_history(&today.team_abbr, d);
    let team10 = &team[team.len().saturating_sub(10)..];
    PlayerOutcome::Record(PdcRecord {
        player_lookup: player.clone(),
        cache_date: d,
        points_avg_last_5: round3(pts(last5)),
        points_avg_last_10: round3(avg10),
        points_avg_season: round3(pts(&history)),
        points_std_last_10: round3(std10),
        minutes_avg_last_10: round3(mean(last10.iter().map(|g| g.minutes())).unwrap_or(0.0)),
        usage_rate_last_10: mean(last10.iter().filter_map(|g| g.usage_rate)).map(round3),
        ts_pct_last_10: (ts_den > 0.0).then(|| round3(ts_pts as f64 / ts_den)),
        games_played_season: n as i32,
        games_in_last_7_days: within(7).count() as i32,
        games_in_last_14_days: within(14).count() as i32,
        minutes_in_last_7_days: round3(within(7).map(|g| g.minutes()).sum()),
        minutes_in_last_14_days: round3(within(14).map(|g| g.minutes()).sum()),
        back_to_backs_last_14_days: b2b,
        team_pace_last_10: mean(team10.iter().map(|t| t.possessions)).map(round3),
        early_season_flag: n < 10,
    })
}

/// Used by PCF: share of recent usage against the player's 10-game norm.
pub(crate) fn recent_usage(history: &[&PlayerGame]) -> Option<f64> {
    let last3 = &history[history.len().saturating_sub(3)..];
    mean(last3.iter().filter_map(|g| g.usage_rate))
}
