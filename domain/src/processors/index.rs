use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use crate::game::{PlayerGame, ScheduledGame};

/// One team's aggregate for one game: what it did and what it allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamGame {
    pub game_date: NaiveDate,
    pub game_id: String,
    /// Possessions estimate: FGA + 0.44·FTA + TOV.
    pub possessions: f64,
    /// Shot attempts by zone taken by the opponent against this team.
    pub allowed_paint: i64,
    pub allowed_mid: i64,
    pub allowed_three: i64,
}

/// Upstream rows indexed for the processors: per player (by date), per date,
/// per team, and the scheduled games that have no box-score rows at all.
#[derive(Debug, Clone, Default)]
pub struct SeasonIndex {
    by_player: HashMap<String, Vec<PlayerGame>>,
    by_date: BTreeMap<NaiveDate, Vec<(String, usize)>>,
    team_games: HashMap<String, Vec<TeamGame>>,
    /// (team, date) of scheduled games missing from player_game_summary.
    missing: Vec<(String, NaiveDate, String)>,
}

impl SeasonIndex {
    pub fn new(mut rows: Vec<PlayerGame>, schedule: &[ScheduledGame]) -> Self {
        rows.sort_by(|a, b| {
            (a.game_date, &a.player_lookup, &a.game_id).cmp(&(
                b.game_date,
                &b.player_lookup,
                &b.game_id,
            ))
        });
        // Team aggregates per (game, team).
        let mut per_game: BTreeMap<(String, String), (NaiveDate, f64, [i64; 3])> = BTreeMap::new();
        for g in &rows {
            let e = per_game
                .entry((g.game_id.clone(), g.team_abbr.clone()))
                .or_insert((g.game_date, 0.0, [0; 3]));
            e.1 += g.fga() as f64 + 0.44 * g.fta() as f64 + g.tov() as f64;
            e.2[0] += g.paint().0 as i64;
            e.2[1] += g.mid().0 as i64;
            e.2[2] += g.three().0 as i64;
        }
        let mut team_games: HashMap<String, Vec<TeamGame>> = HashMap::new();
        for ((game_id, team), (date, poss, _)) in &per_game {
            // What this team allowed = what the other team in the game shot.
            let allowed = per_game
                .iter()
                .find(|((gid, t), _)| gid == game_id && t != team)
                .map(|(_, v)| v.2)
                .unwrap_or([0; 3]);
            team_games.entry(team.clone()).or_default().push(TeamGame {
                game_date: *date,
                game_id: game_id.clone(),
                possessions: *poss,
                allowed_paint: allowed[0],
                allowed_mid: allowed[1],
                allowed_three: allowed[2],
            });
        }
        for v in team_games.values_mut() {
            v.sort_by(|a, b| (a.game_date, &a.game_id).cmp(&(b.game_date, &b.game_id)));
        }
        let present: std::collections::HashSet<&str> =
            rows.iter().map(|g| g.game_id.as_str()).collect();
        let mut missing = Vec::new();
        for s in schedule {
            if !present.contains(s.game_id.as_str()) {
                for team in [&s.home_team_abbr, &s.away_team_abbr] {
                    missing.push((team.clone(), s.game_date, s.game_id.clone()));
                }
            }
        }
        let mut by_player: HashMap<String, Vec<PlayerGame>> = HashMap::new();
        for g in rows {
            by_player
                .entry(g.player_lookup.clone())
                .or_default()
                .push(g);
        }
        let mut by_date: BTreeMap<NaiveDate, Vec<(String, usize)>> = BTreeMap::new();
        for (p, games) in &by_player {
            for (i, g) in games.iter().enumerate() {
                by_date.entry(g.game_date).or_default().push((p.clone(), i));
            }
        }
        for v in by_date.values_mut() {
            v.sort();
        }
        Self {
            by_player,
            by_date,
            team_games,
            missing,
        }
    }

    /// The expected players of `date`: one row per player, sorted by player.
    pub fn expected_on(&self, date: NaiveDate) -> Vec<&PlayerGame> {
        let mut out: Vec<&PlayerGame> = Vec::new();
        for (p, i) in self.by_date.get(&date).map(Vec::as_slice).unwrap_or(&[]) {
            let g = &self.by_player[p][*i];
            if g.is_expected() && out.last().map(|l| l.player_lookup != *p).unwrap_or(true) {
                out.push(g);
            }
        }
        out
    }

    /// Played games of `player` in `season` strictly before `date`, oldest first.
    pub fn history(&self, player: &str, season: i32, date: NaiveDate) -> Vec<&PlayerGame> {
        let games = self.by_player.get(player).map(Vec::as_slice).unwrap_or(&[]);
        let end = games.partition_point(|g| g.game_date < date);
        games[..end]
            .iter()
            .filter(|g| g.season_year == season && g.is_played())
            .collect()
    }

    /// `team`'s games strictly before `date`, oldest first.
    pub fn team_history(&self, team: &str, date: NaiveDate) -> &[TeamGame] {
        let games = self.team_games.get(team).map(Vec::as_slice).unwrap_or(&[]);
        &games[..games.partition_point(|g| g.game_date < date)]
    }

    /// A scheduled game of `team` within `from..date` with no box-score rows.
    pub fn missing_game(&self, team: &str, from: NaiveDate, date: NaiveDate) -> Option<&str> {
        self.missing
            .iter()
            .find(|(t, d, _)| t == team && *d >= from && *d < date)
            .map(|(_, _, id)| id.as_str())
    }

    pub fn dates(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.by_date.keys().copied()
    }

    /// Expected-player count per date (what a dry run reports).
    pub fn expected_count(&self, date: NaiveDate) -> usize {
        self.expected_on(date).len()
    }
}
