//! A deterministic synthetic 2021-22 regular season: 30 teams, a real-shaped
//! schedule (2021-10-19 .. 2022-04-10, 1 230 games, 82 per team, back-to-backs,
//! Thanksgiving/Christmas Eve/All-Star breaks), 510 players with stable profiles,
//! box scores with shot zones, DNPs and inactives, and three injected faults.
//! Same seed → identical rows. Pure: the caller writes the rows.

use chrono::{Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Normal, Poisson};

use crate::game::{game_id, player_lookup, PlayerGame, ScheduledGame};

pub const DEFAULT_SEED: u64 = 2021;
pub const SEASON_YEAR: i32 = 2021;

pub const TEAMS: [&str; 30] = [
    "ATL", "BOS", "BKN", "CHA", "CHI", "CLE", "DAL", "DEN", "DET", "GSW", "HOU", "IND", "LAC",
    "LAL", "MEM", "MIA", "MIL", "MIN", "NOP", "NYK", "OKC", "ORL", "PHI", "PHX", "POR", "SAC",
    "SAS", "TOR", "UTA", "WAS",
];

const FIRST: [&str; 48] = [
    "Aaron", "Andre", "Anthony", "Bam", "Ben", "Bojan", "Bradley", "Brandon", "Cameron", "Chris",
    "Collin", "Damian", "Darius", "De'Aaron", "Derrick", "Devin", "Donovan", "Draymond", "Eric",
    "Evan", "Fred", "Gary", "Gordon", "Jaylen", "Jalen", "Jamal", "Jarrett", "Jerami", "Jonas",
    "Jordan", "Josh", "Julius", "Karl", "Kelly", "Khris", "Kyle", "Lonzo", "Luka", "Malcolm",
    "Marcus", "Mikal", "Nikola", "OG", "Pascal", "Rudy", "Shai", "Terry", "Tyrese",
];
const LAST: [&str; 48] = [
    "Adams",
    "Allen",
    "Anderson",
    "Ball",
    "Barnes",
    "Beasley",
    "Bogdanovic",
    "Bridges",
    "Brooks",
    "Brown",
    "Bryant",
    "Butler",
    "Capela",
    "Carter",
    "Collins",
    "Conley",
    "Davis",
    "Dort",
    "Edwards",
    "Fox",
    "Gobert",
    "Grant",
    "Green",
    "Harris",
    "Hart",
    "Holiday",
    "Horford",
    "Ingram",
    "Jackson",
    "Johnson",
    "Jones",
    "Lopez",
    "Lowry",
    "Martin",
    "McCollum",
    "Middleton",
    "Mitchell",
    "Morris",
    "Murray",
    "Porter",
    "Randle",
    "Robinson",
    "Rozier",
    "Smart",
    "Thomas",
    "Turner",
    "Walker",
    "White",
];

/// What the demo injects, so tests and docs can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faults {
    /// (player, game_id): a box-score row whose fg_makes exceeds fg_attempts.
    pub corrupt_row: (String, String),
    /// A scheduled game whose player_game_summary rows are missing.
    pub missing_game: String,
    /// A player who plays minutes but never takes a shot.
    pub no_shot_player: String,
}

pub struct DemoSeason {
    pub schedule: Vec<ScheduledGame>,
    pub games: Vec<PlayerGame>,
    pub faults: Faults,
}

pub fn season_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 10, 19).expect("valid")
}
pub fn season_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 4, 10).expect("valid")
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid constant date")
}

#[derive(Clone, Copy)]
enum Role {
    Starter,
    Rotation,
    Bench,
    DeepBench,
}

struct Profile {
    full_name: String,
    lookup: String,
    team: usize,
    role: Role,
    minutes: f64,
    usage: f64,
    /// Shares of paint, mid-range, three among shot attempts.
    zones: [f64; 3],
    pct: [f64; 3],
    ft_rate: f64,
    ft_pct: f64,
    no_shots: bool,
}

pub fn generate(seed: u64) -> DemoSeason {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let schedule = schedule(&mut rng);
    let mut players = roster(&mut rng);
    // Fault 3: a deep-bench player who always plays and never shoots.
    let no_shot = players
        .iter()
        .position(|p| p.team == 5 && matches!(p.role, Role::Bench))
        .expect("team 5 has bench players");
    players[no_shot].no_shots = true;
    let no_shot_player = players[no_shot].lookup.clone();

    let corrupt_date = ymd(2021, 11, 20);
    let missing_date = ymd(2021, 11, 24);
    let mut corrupt_row = None;
    let mut missing_game = None;
    let mut games = Vec::with_capacity(schedule.len() * 34);
    for g in &schedule {
        if missing_game.is_none() && g.game_date == missing_date {
            // Fault 2: this game never reached player_game_summary.
            missing_game = Some(g.game_id.clone());
            continue;
        }
        let home = team_index(&g.home_team_abbr);
        let away = team_index(&g.away_team_abbr);
        for (team, opp, is_home) in [(home, away, true), (away, home, false)] {
            for p in players.iter().filter(|p| p.team == team) {
                let mut row = box_score(&mut rng, p, g, TEAMS[opp], is_home);
                if corrupt_row.is_none()
                    && g.game_date == corrupt_date
                    && matches!(p.role, Role::Starter)
                    && row.fg_attempts.unwrap_or(0) > 0
                {
                    // Fault 1: makes > attempts (a corrupt upstream row).
                    row.fg_makes = row.fg_attempts.map(|a| a + 5);
                    corrupt_row = Some((row.player_lookup.clone(), row.game_id.clone()));
                }
                games.push(row);
            }
        }
    }
    DemoSeason {
        schedule,
        games,
        faults: Faults {
            corrupt_row: corrupt_row.expect("a starter shot on the corrupt date"),
            missing_game: missing_game.expect("games on the missing date"),
            no_shot_player,
        },
    }
}

fn team_index(abbr: &str) -> usize {
    TEAMS.iter().position(|t| *t == abbr).expect("known team")
}

fn is_break(d: NaiveDate) -> bool {
    d == ymd(2021, 11, 25)
        || d == ymd(2021, 12, 24)
        || (d >= ymd(2022, 2, 18) && d <= ymd(2022, 2, 23))
}

/// 82 round-robin rounds (circle method, each team once per round), laid onto
/// the calendar a few games a night so teams get back-to-backs and rest days.
fn schedule(rng: &mut ChaCha8Rng) -> Vec<ScheduledGame> {
    let n = TEAMS.len();
    let mut ring: Vec<usize> = (0..n).collect();
    let mut base: Vec<Vec<(usize, usize)>> = Vec::new();
    for _ in 0..n - 1 {
        base.push((0..n / 2).map(|i| (ring[i], ring[n - 1 - i])).collect());
        ring[1..].rotate_right(1);
    }
    let mut queue: Vec<(usize, usize)> = Vec::new();
    for k in 0..82 {
        let mut round = base[k % base.len()].clone();
        for (i, pair) in round.iter_mut().enumerate() {
            if (k / base.len() + i + k) % 2 == 1 {
                *pair = (pair.1, pair.0);
            }
        }
        queue.extend(round);
    }
    let dates: Vec<NaiveDate> = season_start()
        .iter_days()
        .take_while(|d| *d <= season_end())
        .filter(|d| !is_break(*d))
        .collect();
    let mut out = Vec::with_capacity(queue.len());
    let mut last_played: Vec<Option<NaiveDate>> = vec![None; n];
    for (i, date) in dates.iter().enumerate() {
        let remaining_dates = (dates.len() - i) as f64;
        let target = (queue.len() as f64 / remaining_dates).ceil() as i64;
        let jitter = if dates.len() - i > 12 {
            rng.random_range(-3..=3)
        } else {
            0
        };
        let quota = (target + jitter).clamp(1, (n / 2) as i64) as usize;
        let mut busy = vec![false; n];
        let mut taken = 0;
        let mut j = 0;
        let window = if dates.len() - i > 12 {
            45
        } else {
            queue.len()
        };
        while taken < quota && j < queue.len().min(window) {
            let (away, home) = queue[j];
            // No team plays twice a night; two nights in a row is fine (a
            // back-to-back), three is avoided unless the calendar runs out.
            let tired = |t: usize| {
                last_played[t] == Some(*date - Duration::days(1))
                    && out.iter().rev().take(40).any(|g: &ScheduledGame| {
                        g.game_date == *date - Duration::days(2)
                            && (g.home_team_abbr == TEAMS[t] || g.away_team_abbr == TEAMS[t])
                    })
            };
            if !busy[away]
                && !busy[home]
                && (window == queue.len() || (!tired(away) && !tired(home)))
            {
                busy[away] = true;
                busy[home] = true;
                last_played[away] = Some(*date);
                last_played[home] = Some(*date);
                out.push(ScheduledGame {
                    game_id: game_id(*date, TEAMS[away], TEAMS[home]),
                    game_date: *date,
                    season_year: SEASON_YEAR,
                    home_team_abbr: TEAMS[home].into(),
                    away_team_abbr: TEAMS[away].into(),
                    game_status: "Final".into(),
                });
                queue.remove(j);
                taken += 1;
            } else {
                j += 1;
            }
        }
    }
    assert!(queue.is_empty(), "schedule must fit the calendar");
    out
}

fn roster(rng: &mut ChaCha8Rng) -> Vec<Profile> {
    let mut used = std::collections::HashSet::new();
    let mut out = Vec::new();
    for team in 0..TEAMS.len() {
        for slot in 0..17 {
            let role = match slot {
                0..=4 => Role::Starter,
                5..=9 => Role::Rotation,
                10..=13 => Role::Bench,
                _ => Role::DeepBench,
            };
            let full_name = loop {
                let first = FIRST[rng.random_range(0..FIRST.len())];
                let last = LAST[rng.random_range(0..LAST.len())];
                let mut name = format!("{first} {last}");
                if used.contains(&player_lookup(&name)) {
                    name.push_str(" Jr.");
                }
                if used.insert(player_lookup(&name)) {
                    break name;
                }
            };
            let (minutes, usage) = match role {
                Role::Starter => (rng.random_range(28.0..36.0), rng.random_range(18.0..31.0)),
                Role::Rotation => (rng.random_range(16.0..26.0), rng.random_range(14.0..23.0)),
                Role::Bench => (rng.random_range(8.0..15.0), rng.random_range(12.0..20.0)),
                Role::DeepBench => (rng.random_range(3.0..8.0), rng.random_range(10.0..18.0)),
            };
            // Position shapes the zones: bigs live in the paint, guards shoot threes.
            let zones = match slot % 5 {
                0 | 1 => [0.30, 0.18, 0.52],
                2 | 3 => [0.40, 0.22, 0.38],
                _ => [0.68, 0.17, 0.15],
            };
            let wobble = |x: f64, rng: &mut ChaCha8Rng| x * rng.random_range(0.8..1.2);
            let mut z = [
                wobble(zones[0], rng),
                wobble(zones[1], rng),
                wobble(zones[2], rng),
            ];
            let s: f64 = z.iter().sum();
            z.iter_mut().for_each(|v| *v /= s);
            out.push(Profile {
                lookup: player_lookup(&full_name),
                full_name,
                team,
                role,
                minutes,
                usage,
                zones: z,
                pct: [
                    rng.random_range(0.52..0.66),
                    rng.random_range(0.36..0.47),
                    rng.random_range(0.30..0.41),
                ],
                ft_rate: rng.random_range(0.12..0.35),
                ft_pct: rng.random_range(0.62..0.91),
                no_shots: false,
            });
        }
    }
    out
}

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> i32 {
    if lambda <= 0.0 {
        return 0;
    }
    Poisson::new(lambda)
        .map(|d| d.sample(rng) as i32)
        .unwrap_or(0)
}

fn binomial(rng: &mut ChaCha8Rng, n: i32, p: f64) -> i32 {
    if n <= 0 {
        return 0;
    }
    Binomial::new(n as u64, p.clamp(0.0, 1.0))
        .map(|d| d.sample(rng) as i32)
        .unwrap_or(0)
}

fn box_score(
    rng: &mut ChaCha8Rng,
    p: &Profile,
    g: &ScheduledGame,
    opponent: &str,
    home: bool,
) -> PlayerGame {
    // Real scale: of 17 on a roster about 10-11 get on the floor per game
    // (the real pipeline saw 1 843 expected players over 2021-11-05..15).
    let inactive = rng.random_bool(0.06);
    let dnp = !inactive
        && !p.no_shots
        && rng.random_bool(match p.role {
            Role::DeepBench => 0.97,
            Role::Bench => 0.75,
            _ => 0.01,
        });
    let mut row = PlayerGame {
        player_lookup: p.lookup.clone(),
        player_full_name: p.full_name.clone(),
        game_id: g.game_id.clone(),
        game_date: g.game_date,
        season_year: g.season_year,
        team_abbr: TEAMS[p.team].into(),
        opponent_team_abbr: opponent.into(),
        home_game: home,
        starter_flag: matches!(p.role, Role::Starter),
        is_active: !inactive,
        is_dnp: dnp,
        minutes_played: Some(0.0),
        points: Some(0),
        fg_attempts: Some(0),
        fg_makes: Some(0),
        three_pt_attempts: Some(0),
        three_pt_makes: Some(0),
        ft_attempts: Some(0),
        ft_makes: Some(0),
        paint_attempts: Some(0),
        paint_makes: Some(0),
        mid_range_attempts: Some(0),
        mid_range_makes: Some(0),
        rebounds: Some(0),
        assists: Some(0),
        turnovers: Some(0),
        usage_rate: None,
    };
    if inactive {
        row.minutes_played = None;
        return row;
    }
    if dnp {
        return row;
    }
    let minutes_noise = Normal::new(0.0, 4.0).map(|d| d.sample(rng)).unwrap_or(0.0);
    let minutes = ((p.minutes + minutes_noise).clamp(1.0, 44.0) * 10.0).round() / 10.0;
    let fga = if p.no_shots {
        0
    } else {
        poisson(rng, minutes * p.usage / 100.0 * 0.85)
    };
    let paint_a = binomial(rng, fga, p.zones[0]);
    let mid_a = binomial(rng, fga - paint_a, p.zones[1] / (p.zones[1] + p.zones[2]));
    let three_a = fga - paint_a - mid_a;
    let paint_m = binomial(rng, paint_a, p.pct[0]);
    let mid_m = binomial(rng, mid_a, p.pct[1]);
    let three_m = binomial(rng, three_a, p.pct[2]);
    let fta = if p.no_shots {
        0
    } else {
        poisson(rng, fga as f64 * p.ft_rate)
    };
    let ftm = binomial(rng, fta, p.ft_pct);
    let usage_noise = Normal::new(0.0, 3.0).map(|d| d.sample(rng)).unwrap_or(0.0);
    row.minutes_played = Some(minutes);
    row.fg_attempts = Some(fga);
    row.fg_makes = Some(paint_m + mid_m + three_m);
    row.paint_attempts = Some(paint_a);
    row.paint_makes = Some(paint_m);
    row.mid_range_attempts = Some(mid_a);
    row.mid_range_makes = Some(mid_m);
    row.three_pt_attempts = Some(three_a);
    row.three_pt_makes = Some(three_m);
    row.ft_attempts = Some(fta);
    row.ft_makes = Some(ftm);
    row.points = Some(2 * (paint_m + mid_m) + 3 * three_m + ftm);
    row.rebounds = Some(poisson(rng, minutes * 0.17));
    row.assists = Some(poisson(rng, minutes * 0.09));
    row.turnovers = Some(poisson(rng, minutes * 0.05));
    row.usage_rate = Some((((p.usage + usage_noise).max(1.0)) * 10.0).round() / 10.0);
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn season_has_real_shape() {
        let s = generate(DEFAULT_SEED);
        assert_eq!(s.schedule.len(), 1230);
        let mut per_team: HashMap<&str, usize> = HashMap::new();
        for g in &s.schedule {
            *per_team.entry(&g.home_team_abbr).or_default() += 1;
            *per_team.entry(&g.away_team_abbr).or_default() += 1;
        }
        assert_eq!(per_team.len(), 30);
        assert!(per_team.values().all(|n| *n == 82), "{per_team:?}");
        let dates: HashSet<NaiveDate> = s.schedule.iter().map(|g| g.game_date).collect();
        assert!(
            (150..=170).contains(&dates.len()),
            "{} game dates",
            dates.len()
        );
        assert_eq!(dates.iter().min(), Some(&season_start()));
        assert!(dates.iter().max().unwrap() <= &season_end());
        // Nobody plays twice on one date.
        let mut seen = HashSet::new();
        for g in &s.schedule {
            assert!(seen.insert((g.game_date, g.home_team_abbr.clone())));
            assert!(seen.insert((g.game_date, g.away_team_abbr.clone())));
        }
        // Back-to-backs exist.
        assert!(s
            .schedule
            .iter()
            .any(|g| seen.contains(&(g.game_date - Duration::days(1), g.home_team_abbr.clone()))));
        let players: HashSet<&str> = s.games.iter().map(|g| g.player_lookup.as_str()).collect();
        assert_eq!(players.len(), 510);
        assert!(s.games.iter().any(|g| g.is_dnp));
        assert!(s.games.iter().any(|g| !g.is_active));
    }

    #[test]
    fn about_ten_players_get_on_the_floor_per_team_game() {
        let s = generate(DEFAULT_SEED);
        let team_games = 2 * s.schedule.len() - 2; // one game never arrives (fault 2)
        let expected = s.games.iter().filter(|g| g.is_expected()).count();
        let per_team_game = expected as f64 / team_games as f64;
        assert!(
            (9.5..=11.5).contains(&per_team_game),
            "{per_team_game:.2} expected players per team-game"
        );
    }

    #[test]
    fn same_seed_same_rows_other_seed_other_rows() {
        let a = generate(7);
        let b = generate(7);
        assert_eq!(a.games, b.games);
        assert_eq!(a.schedule, b.schedule);
        let c = generate(8);
        assert_ne!(a.games, c.games);
    }

    #[test]
    fn faults_are_injected() {
        let s = generate(DEFAULT_SEED);
        let (p, gid) = &s.faults.corrupt_row;
        let row = s
            .games
            .iter()
            .find(|g| &g.player_lookup == p && &g.game_id == gid)
            .unwrap();
        assert!(row.corruption().is_some());
        assert_eq!(
            s.games.iter().filter(|g| g.corruption().is_some()).count(),
            1
        );
        assert!(s
            .schedule
            .iter()
            .any(|g| g.game_id == s.faults.missing_game));
        assert!(!s.games.iter().any(|g| g.game_id == s.faults.missing_game));
        let ns: Vec<_> = s
            .games
            .iter()
            .filter(|g| g.player_lookup == s.faults.no_shot_player)
            .collect();
        assert!(ns.iter().any(|g| g.minutes() > 0.0));
        assert!(ns.iter().all(|g| g.fga() == 0));
    }
}
