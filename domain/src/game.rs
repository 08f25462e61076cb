//! Universe rows (docs/DESIGN.md §2: the NBA schedule and box scores, read-only
//! for processors) as the processors see them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One row of `nba_analytics.player_game_summary`. Numeric fields are optional
/// because real warehouses contain NULLs; the processors decide what a NULL means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerGame {
    pub player_lookup: String,
    pub player_full_name: String,
    pub game_id: String,
    pub game_date: NaiveDate,
    pub season_year: i32,
    pub team_abbr: String,
    pub opponent_team_abbr: String,
    pub home_game: bool,
    pub starter_flag: bool,
    pub is_active: bool,
    pub is_dnp: bool,
    pub minutes_played: Option<f64>,
    pub points: Option<i32>,
    pub fg_attempts: Option<i32>,
    pub fg_makes: Option<i32>,
    pub three_pt_attempts: Option<i32>,
    pub three_pt_makes: Option<i32>,
    pub ft_attempts: Option<i32>,
    pub ft_makes: Option<i32>,
    pub paint_attempts: Option<i32>,
    pub paint_makes: Option<i32>,
    pub mid_range_attempts: Option<i32>,
    pub mid_range_makes: Option<i32>,
    pub rebounds: Option<i32>,
    pub assists: Option<i32>,
    pub turnovers: Option<i32>,
    pub usage_rate: Option<f64>,
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// [`PlayerGame::is_expected`] over `player_game_summary`'s columns, valid in
/// DuckDB and BigQuery: the one SQL spelling of the rule (the conformance
/// suite checks both stores count what the Rust rule counts).
pub const EXPECTED_PLAYER_SQL: &str = "is_active AND (minutes_played > 0 OR fg_attempts > 0)";

impl PlayerGame {
    /// docs/DESIGN.md §1: an expected entity is active and got on the floor.
    pub fn is_expected(&self) -> bool {
        self.is_active && (self.minutes_played.unwrap_or(0.0) > 0.0 || n(self.fg_attempts) > 0)
    }

    /// Counts towards a player's game history.
    pub fn is_played(&self) -> bool {
        self.is_active && !self.is_dnp
    }

    pub fn minutes(&self) -> f64 {
        self.minutes_played.unwrap_or(0.0)
    }
    pub fn pts(&self) -> i32 {
        n(self.points)
    }
    pub fn fga(&self) -> i32 {
        n(self.fg_attempts)
    }
    pub fn fta(&self) -> i32 {
        n(self.ft_attempts)
    }
    pub fn ftm(&self) -> i32 {
        n(self.ft_makes)
    }
    pub fn tov(&self) -> i32 {
        n(self.turnovers)
    }
    pub fn paint(&self) -> (i32, i32) {
        (n(self.paint_attempts), n(self.paint_makes))
    }
    pub fn mid(&self) -> (i32, i32) {
        (n(self.mid_range_attempts), n(self.mid_range_makes))
    }
    pub fn three(&self) -> (i32, i32) {
        (n(self.three_pt_attempts), n(self.three_pt_makes))
    }

    /// A value a processor cannot compute on, described for the failure reason.
    pub fn corruption(&self) -> Option<String> {
        let at = || format!("{} {}", self.game_id, self.game_date);
        match self.minutes_played {
            Some(m) if !m.is_finite() => return Some(format!("minutes_played is {m} in {}", at())),
            Some(m) if m < 0.0 => return Some(format!("negative minutes_played {m} in {}", at())),
            _ => {}
        }
        if let Some(u) = self.usage_rate.filter(|u| !u.is_finite()) {
            return Some(format!("usage_rate is {u} in {}", at()));
        }
        let pairs = [
            ("fg", self.fg_attempts, self.fg_makes),
            ("three_pt", self.three_pt_attempts, self.three_pt_makes),
            ("ft", self.ft_attempts, self.ft_makes),
            ("paint", self.paint_attempts, self.paint_makes),
            ("mid_range", self.mid_range_attempts, self.mid_range_makes),
        ];
        for (name, att, made) in pairs {
            let (a, m) = (n(att), n(made));
            if a < 0 || m < 0 {
                return Some(format!("negative {name} count in {}", at()));
            }
            if m > a {
                return Some(format!(
                    "{name}_makes {m} > {name}_attempts {a} in {}",
                    at()
                ));
            }
        }
        for (name, v) in [
            ("points", self.points),
            ("rebounds", self.rebounds),
            ("assists", self.assists),
            ("turnovers", self.turnovers),
        ] {
            if n(v) < 0 {
                return Some(format!("negative {name} in {}", at()));
            }
        }
        None
    }
}

impl PlayerGame {
    /// Why an imported row cannot be loaded: (column, problem). Semantic
    /// corruption (negative minutes, makes > attempts) is loaded on purpose:
    /// the processors report it as PROCESSING_ERROR.
    pub fn import_problem(&self) -> Option<(&'static str, String)> {
        let lookup = &self.player_lookup;
        if lookup.is_empty() || !lookup.chars().all(|c| c.is_ascii_lowercase()) {
            return Some((
                "player_lookup",
                format!("'{}' must be lowercase letters only", clip(lookup)),
            ));
        }
        let date_prefix = self.game_date.format("%Y%m%d").to_string();
        if !self.game_id.starts_with(&date_prefix) || self.game_id.len() > 40 {
            return Some((
                "game_id",
                format!(
                    "'{}' does not start with the game date {date_prefix}",
                    clip(&self.game_id)
                ),
            ));
        }
        if !(1946..=2100).contains(&self.season_year) {
            return Some((
                "season_year",
                format!("{} is not a season", self.season_year),
            ));
        }
        None
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// One row of `nba_reference.nba_schedule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledGame {
    pub game_id: String,
    pub game_date: NaiveDate,
    pub season_year: i32,
    pub home_team_abbr: String,
    pub away_team_abbr: String,
    pub game_status: String,
}

/// `20211105_BKN_MIL`: date, away team, home team.
pub fn game_id(date: NaiveDate, away: &str, home: &str) -> String {
    format!("{}_{}_{}", date.format("%Y%m%d"), away, home)
}

/// `LeBron James` → `lebronjames`: lowercase ASCII letters only.
pub fn player_lookup(full_name: &str) -> String {
    full_name
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A clean, played game with simple round numbers.
    pub fn game(player: &str, date: NaiveDate) -> PlayerGame {
        PlayerGame {
            player_lookup: player.into(),
            player_full_name: player.into(),
            game_id: game_id(date, "AAA", "BBB"),
            game_date: date,
            season_year: 2021,
            team_abbr: "AAA".into(),
            opponent_team_abbr: "BBB".into(),
            home_game: false,
            starter_flag: true,
            is_active: true,
            is_dnp: false,
            minutes_played: Some(30.0),
            points: Some(20),
            fg_attempts: Some(16),
            fg_makes: Some(8),
            three_pt_attempts: Some(5),
            three_pt_makes: Some(2),
            ft_attempts: Some(4),
            ft_makes: Some(3),
            paint_attempts: Some(7),
            paint_makes: Some(4),
            mid_range_attempts: Some(4),
            mid_range_makes: Some(2),
            rebounds: Some(5),
            assists: Some(4),
            turnovers: Some(2),
            usage_rate: Some(22.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::game;
    use super::*;

    fn d() -> NaiveDate {
        NaiveDate::from_ymd_opt(2021, 11, 5).unwrap()
    }

    #[test]
    fn expected_means_active_and_on_the_floor() {
        let mut g = game("a", d());
        assert!(g.is_expected());
        g.minutes_played = Some(0.0);
        g.fg_attempts = Some(0);
        assert!(!g.is_expected());
        g.fg_attempts = Some(1);
        assert!(g.is_expected(), "a shot attempt counts even with 0 minutes");
        g.is_active = false;
        assert!(!g.is_expected());
    }

    #[test]
    fn corruption_is_detected_and_described() {
        assert_eq!(game("a", d()).corruption(), None);
        let mut g = game("a", d());
        g.fg_makes = Some(20);
        assert!(g
            .corruption()
            .unwrap()
            .contains("fg_makes 20 > fg_attempts 16"));
        let mut g = game("a", d());
        g.minutes_played = Some(-3.0);
        assert!(g.corruption().unwrap().contains("negative minutes_played"));
        let mut g = game("a", d());
        g.minutes_played = Some(f64::NAN);
        assert!(g.corruption().is_some());
    }

    #[test]
    fn import_checks_name_the_column() {
        assert_eq!(game("a", d()).import_problem(), None);
        let mut g = game("a", d());
        g.player_lookup = "LeBron James".into();
        assert_eq!(g.import_problem().unwrap().0, "player_lookup");
        let mut g = game("a", d());
        g.game_id = "19990101_AAA_BBB".into();
        assert_eq!(g.import_problem().unwrap().0, "game_id");
        let mut g = game("a", d());
        g.fg_makes = Some(99);
        assert_eq!(
            g.import_problem(),
            None,
            "corruption is loaded and reported later"
        );
    }

    #[test]
    fn lookups_and_game_ids_follow_the_pipeline() {
        assert_eq!(player_lookup("LeBron James"), "lebronjames");
        assert_eq!(player_lookup("D'Angelo Russell Jr."), "dangelorusselljr");
        assert_eq!(game_id(d(), "BKN", "MIL"), "20211105_BKN_MIL");
    }
}
