//! PSZA: shot-zone profile over the last 10 games (paint over the last 20 when
//! at least 15 games exist).

use super::{
    history_or_insufficient, ratio, round3, Ctx, FailureRecord, PlayerOutcome, PszaRecord,
};
use crate::game::PlayerGame;
use crate::{Builtin, FailureCategory};

pub(crate) fn compute(ctx: &Ctx, today: &PlayerGame) -> PlayerOutcome<PszaRecord> {
    let player = &today.player_lookup;
    let history = match history_or_insufficient(ctx, today, Builtin::Psza) {
        Ok(h) => h,
        Err(f) => return PlayerOutcome::Failure(f),
    };
    let n = history.len();
    let last20 = &history[n.saturating_sub(20)..];
    let last10 = &history[n - 10..];
    for g in last20 {
        if let Some(bad) = g.corruption() {
            return PlayerOutcome::Failure(FailureRecord::player(
                player,
                FailureCategory::ProcessingError,
                bad,
            ));
        }
    }
    let sum = |games: &[&PlayerGame], f: fn(&PlayerGame) -> (i32, i32)| {
        games.iter().fold((0i64, 0i64), |(a, m), g| {
            let (ga, gm) = f(g);
            (a + ga as i64, m + gm as i64)
        })
    };
    let paint = sum(last10, PlayerGame::paint);
    let mid = sum(last10, PlayerGame::mid);
    let three = sum(last10, PlayerGame::three);
    let total = paint.0 + mid.0 + three.0;
    if total == 0 {
        return PlayerOutcome::Failure(FailureRecord::player(
            player,
            FailureCategory::NoShotZone,
            "0 shot attempts in the last 10 games",
        ));
    }
    let rate = |a: i64| round3(a as f64 / total as f64);
    let pct = |(a, m): (i64, i64)| ratio(m, a).map(round3);
    let (paint_rate_20, paint_pct_20) = if n >= 15 {
        let p20 = sum(last20, PlayerGame::paint);
        let all20: i64 = p20.0 + sum(last20, PlayerGame::mid).0 + sum(last20, PlayerGame::three).0;
        (ratio(p20.0, all20).map(round3), pct(p20))
    } else {
        (None, None)
    };
    let (pr, mr, tr) = (rate(paint.0), rate(mid.0), rate(three.0));
    PlayerOutcome::Record(PszaRecord {
        player_lookup: player.clone(),
        analysis_date: ctx.date,
        paint_rate_last_10: pr,
        mid_range_rate_last_10: mr,
        three_pt_rate_last_10: tr,
        paint_pct_last_10: pct(paint),
        mid_range_pct_last_10: pct(mid),
        three_pt_pct_last_10: pct(three),
        paint_rate_last_20: paint_rate_20,
        paint_pct_last_20: paint_pct_20,
        attempts_per_game: round3(total as f64 / 10.0),
        total_shots_last_10: total as i32,
        games_in_sample: last20.len() as i32,
        primary_scoring_zone: primary_zone(pr, mr, tr).into(),
        sample_quality: match n {
            n if n >= 20 => "high",
            n if n >= 15 => "medium",
            _ => "low",
        }
        .into(),
    })
}

/// paint ≥ 40 % → paint; three ≥ 40 % → perimeter; mid ≥ 35 % → mid_range; else balanced.
pub(crate) fn primary_zone(paint: f64, mid: f64, three: f64) -> &'static str {
    if paint >= 0.40 {
        "paint"
    } else if three >= 0.40 {
        "perimeter"
    } else if mid >= 0.35 {
        "mid_range"
    } else {
        "balanced"
    }
}
