//! Processors over hand-built inputs: every category and every boundary.

use chrono::{Duration, NaiveDate};

use super::*;
use crate::game::fixtures::game;
use crate::game::{PlayerGame, ScheduledGame};
use crate::pipeline::{shipped, shipped_id};
use crate::{Builtin as P, FailureCategory as C};

fn day(i: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 10, 19).unwrap() + Duration::days(i)
}

/// `games` played games on consecutive-ish days (every 2nd day), then today's row.
fn player_with(name: &str, games: usize, today: NaiveDate) -> Vec<PlayerGame> {
    let mut rows: Vec<PlayerGame> = (0..games)
        .map(|i| game(name, today - Duration::days(2 * (games - i) as i64)))
        .collect();
    rows.push(game(name, today));
    rows
}

fn idx(rows: Vec<PlayerGame>) -> SeasonIndex {
    SeasonIndex::new(rows, &[])
}

fn failure_of<'a>(out: &'a CellOutput, player: &str) -> Option<&'a FailureRecord> {
    out.failures.iter().find(|f| f.entity_id == player)
}

fn today() -> NaiveDate {
    day(60)
}

#[test]
fn psza_needs_ten_games_nine_is_insufficient() {
    let mut rows = player_with("nine", 9, today());
    rows.extend(player_with("ten", 10, today()));
    let out = run(
        shipped(),
        P::Psza,
        today(),
        &idx(rows),
        &UpstreamSet::default(),
    );
    assert_eq!(out.expected, 2);
    let f = failure_of(&out, "nine").expect("nine fails");
    assert_eq!(f.category, C::InsufficientData);
    assert_eq!(f.reason, "9 games, need 10");
    assert!(!f.can_retry);
    // Counts agree in number (issue [Q] 3).
    let alone = run(
        shipped(),
        P::Psza,
        today(),
        &idx(player_with("one", 1, today())),
        &UpstreamSet::default(),
    );
    assert_eq!(failure_of(&alone, "one").unwrap().reason, "1 game, need 10");
    assert_eq!(out.records.players(), vec!["ten"]);
    let Records::Psza(r) = &out.records else {
        panic!()
    };
    // 7 paint, 4 mid, 5 three per game
    assert_eq!(r[0].total_shots_last_10, 160);
    assert_eq!(r[0].paint_rate_last_10, 0.438);
    assert_eq!(r[0].primary_scoring_zone, "paint");
    assert_eq!(
        r[0].paint_rate_last_20, None,
        "needs 15 games for the 20-window"
    );
    assert_eq!(r[0].sample_quality, "low");
}

#[test]
fn psza_twenty_game_window_starts_at_fifteen_games() {
    let mut rows = player_with("fourteen", 14, today());
    rows.extend(player_with("fifteen", 15, today()));
    let out = run(
        shipped(),
        P::Psza,
        today(),
        &idx(rows),
        &UpstreamSet::default(),
    );
    let Records::Psza(r) = &out.records else {
        panic!()
    };
    let by = |p: &str| r.iter().find(|x| x.player_lookup == p).unwrap();
    assert_eq!(by("fourteen").paint_rate_last_20, None);
    assert_eq!(by("fifteen").paint_rate_last_20, Some(0.438));
    assert_eq!(by("fifteen").paint_pct_last_20, Some(0.571));
    assert_eq!(by("fifteen").games_in_sample, 15);
    assert_eq!(by("fifteen").sample_quality, "medium");
}

#[test]
fn psza_zero_shots_is_no_shot_zone() {
    let mut rows = player_with("noshots", 12, today());
    for g in &mut rows {
        for v in [
            &mut g.fg_attempts,
            &mut g.fg_makes,
            &mut g.paint_attempts,
            &mut g.paint_makes,
            &mut g.mid_range_attempts,
            &mut g.mid_range_makes,
            &mut g.three_pt_attempts,
            &mut g.three_pt_makes,
        ] {
            *v = Some(0);
        }
    }
    let out = run(
        shipped(),
        P::Psza,
        today(),
        &idx(rows),
        &UpstreamSet::default(),
    );
    assert_eq!(failure_of(&out, "noshots").unwrap().category, C::NoShotZone);
}

#[test]
fn corrupt_input_is_processing_error_and_the_date_goes_on() {
    let mut rows = player_with("corrupt", 12, today());
    rows[5].fg_makes = Some(99);
    rows.extend(player_with("clean", 12, today()));
    for p in [P::Psza, P::Pdc] {
        let out = run(
            shipped(),
            p,
            today(),
            &idx(rows.clone()),
            &UpstreamSet::default(),
        );
        let f = failure_of(&out, "corrupt").unwrap();
        assert_eq!(f.category, C::ProcessingError, "{p}");
        assert!(
            f.reason.contains("fg_makes 99 > fg_attempts 16"),
            "{}",
            f.reason
        );
        assert_eq!(out.records.players(), vec!["clean"], "{p}");
    }
}

#[test]
fn pdc_boundaries_two_three_nine_ten() {
    let mut rows = Vec::new();
    for (name, n) in [("two", 2), ("three", 3), ("nine", 9), ("ten", 10)] {
        rows.extend(player_with(name, n, today()));
    }
    let out = run(
        shipped(),
        P::Pdc,
        today(),
        &idx(rows),
        &UpstreamSet::default(),
    );
    assert_eq!(failure_of(&out, "two").unwrap().reason, "2 games, need 3");
    let Records::Pdc(r) = &out.records else {
        panic!()
    };
    let by = |p: &str| r.iter().find(|x| x.player_lookup == p).unwrap();
    assert!(by("three").early_season_flag);
    assert!(by("nine").early_season_flag);
    assert!(!by("ten").early_season_flag);
    let ten = by("ten");
    assert_eq!(ten.points_avg_last_10, 20.0);
    assert_eq!(ten.points_std_last_10, 0.0);
    assert_eq!(ten.games_played_season, 10);
    // games every 2nd day: days -2,-4,-6 within 7 days
    assert_eq!(ten.games_in_last_7_days, 3);
    assert_eq!(ten.back_to_backs_last_14_days, 0);
    // 20 / (2 · (16 + 0.44 · 4))
    assert_eq!(ten.ts_pct_last_10, Some(0.563));
}

#[test]
fn pdc_missing_team_game_is_incomplete_data() {
    let rows = player_with("gap", 10, today());
    let missing = ScheduledGame {
        game_id: "20211213_AAA_CCC".into(),
        game_date: today() - Duration::days(3),
        season_year: 2021,
        home_team_abbr: "CCC".into(),
        away_team_abbr: "AAA".into(),
        game_status: "Final".into(),
    };
    let index = SeasonIndex::new(rows, &[missing]);
    let out = run(shipped(), P::Pdc, today(), &index, &UpstreamSet::default());
    let f = failure_of(&out, "gap").unwrap();
    assert_eq!(f.category, C::IncompleteData);
    assert!(f.reason.contains("20211213_AAA_CCC"));
}

#[test]
fn dnp_rows_are_not_expected_and_not_history() {
    let mut rows = player_with("p", 10, today());
    rows[3].is_dnp = true;
    rows[3].minutes_played = Some(0.0);
    let mut dnp_today = game("bench", today());
    dnp_today.is_dnp = true;
    dnp_today.minutes_played = Some(0.0);
    dnp_today.fg_attempts = Some(0);
    rows.push(dnp_today);
    let out = run(
        shipped(),
        P::Psza,
        today(),
        &idx(rows),
        &UpstreamSet::default(),
    );
    assert_eq!(out.expected, 1);
    assert_eq!(failure_of(&out, "p").unwrap().reason, "9 games, need 10");
}

fn upstreams_for(rows: &[PlayerGame], date: NaiveDate) -> UpstreamSet {
    let index = idx(rows.to_vec());
    let mut up = UpstreamSet::default();
    let psza = run(shipped(), P::Psza, date, &index, &up);
    let pdc = run(shipped(), P::Pdc, date, &index, &up);
    up.absorb(&psza);
    up.absorb(&pdc);
    let pcf = run(shipped(), P::Pcf, date, &index, &up);
    up.absorb(&pcf);
    up
}

#[test]
fn pcf_date_level_when_an_upstream_has_no_rows() {
    let rows = player_with("early", 5, today());
    let up = upstreams_for(&rows, today());
    assert!(up.psza.records.is_empty());
    let out = run(shipped(), P::Pcf, today(), &idx(rows), &up);
    assert_eq!(out.failures.len(), 1);
    let f = &out.failures[0];
    assert_eq!(f.entity_id, DATE_LEVEL);
    assert_eq!(f.category, C::MissingDependencies);
    assert_eq!(f.upstream_processor, Some(shipped_id(P::Psza)));
    assert!(!out.dependency_check_passed);
    assert_eq!(out.expected, 1);
}

#[test]
fn missing_upstream_names_the_upstream_and_its_category() {
    let mut rows = player_with("veteran", 12, today());
    rows.extend(player_with("rookie", 5, today()));
    let up = upstreams_for(&rows, today());
    let index = idx(rows);
    let pcf = run(shipped(), P::Pcf, today(), &index, &up);
    assert_eq!(pcf.records.players(), vec!["veteran"]);
    let f = failure_of(&pcf, "rookie").unwrap();
    assert_eq!(f.category, C::MissingUpstream);
    // PDC has a record for the rookie (5 ≥ 3), PSZA does not (5 < 10).
    assert_eq!(f.upstream_processor, Some(shipped_id(P::Psza)));
    assert_eq!(f.upstream_category.as_deref(), Some("INSUFFICIENT_DATA"));

    let mlfs = run(shipped(), P::Mlfs, today(), &index, &up);
    let f = failure_of(&mlfs, "rookie").unwrap();
    assert_eq!(
        f.upstream_processor,
        Some(shipped_id(P::Psza)),
        "root of the lineage first"
    );
    let Records::Mlfs(r) = &mlfs.records else {
        panic!()
    };
    assert_eq!(r[0].features.len(), FEATURE_NAMES.len());
    assert_eq!(r[0].feature_version, FEATURE_VERSION);
}

#[test]
fn missing_upstream_without_any_upstream_row_says_so() {
    let rows = player_with("veteran", 12, today());
    let mut up = upstreams_for(&rows, today());
    // Simulate a legacy upstream that silently dropped the player.
    let keep = up.pdc.records.remove("veteran").unwrap();
    up.pdc.records.insert("someoneelse".into(), keep);
    let out = run(shipped(), P::Pcf, today(), &idx(rows), &up);
    let f = failure_of(&out, "veteran").unwrap();
    assert_eq!(f.upstream_category, None);
    assert!(
        f.reason.contains("no record and no failure"),
        "{}",
        f.reason
    );
}

#[test]
fn every_expected_player_gets_exactly_one_outcome() {
    let mut rows = Vec::new();
    for (i, n) in [0usize, 1, 2, 3, 5, 9, 10, 11, 15, 20, 25]
        .iter()
        .enumerate()
    {
        rows.extend(player_with(&format!("p{i}"), *n, today()));
    }
    rows[7].points = Some(-4); // corrupt one
    let index = idx(rows);
    let mut up = UpstreamSet::default();
    for p in PROCESSORS_IN_ORDER {
        let out = run(shipped(), p, today(), &index, &up);
        let mut seen: Vec<String> = out
            .records
            .players()
            .into_iter()
            .map(String::from)
            .collect();
        seen.extend(out.failures.iter().map(|f| f.entity_id.clone()));
        seen.sort();
        let mut expected: Vec<String> = index
            .expected_on(today())
            .iter()
            .map(|g| g.player_lookup.clone())
            .collect();
        expected.sort();
        if out.failures.iter().any(|f| f.entity_id == DATE_LEVEL) {
            assert_eq!(seen, vec![DATE_LEVEL.to_string()], "{p}");
        } else {
            assert_eq!(seen, expected, "{p}: one outcome per expected player");
        }
        up.absorb(&out);
    }
}

const PROCESSORS_IN_ORDER: [P; 4] = P::ALL;

#[test]
fn history_is_strictly_before_the_date_and_within_the_season() {
    let mut rows = player_with("p", 12, today());
    let mut last_season = game("p", today() - Duration::days(200));
    last_season.season_year = 2020;
    rows.push(last_season);
    let index = idx(rows);
    let h = index.history("p", 2021, today());
    assert_eq!(h.len(), 12);
    assert!(h.iter().all(|g| g.game_date < today()));
}
