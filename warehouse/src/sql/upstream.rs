//! The typed tables the processors and the trace read: NBA box scores, the
//! schedule, and the builtins' outputs with their player failures. Nulls
//! the domain types cannot hold read as the builtins' defaults (0, "",
//! false), the same in every store.

use domain::game::{PlayerGame, ScheduledGame};
use domain::pipeline::NBA_UNIVERSE_TABLE;
use domain::processors::{PcfRecord, PdcRecord, PszaRecord};

use super::*;

/// The box-score columns as [`box_score_row`] reads them (plain SQL both
/// stores accept, also run over a Parquet file before it is imported).
pub const BOX_SCORE_COLUMNS: &str =
    "player_lookup, coalesce(player_full_name, player_lookup) AS player_full_name, game_id,
    game_date, coalesce(season_year, 0) AS season_year, coalesce(team_abbr, '') AS team_abbr,
    coalesce(opponent_team_abbr, '') AS opponent_team_abbr,
    coalesce(home_game, false) AS home_game, coalesce(starter_flag, false) AS starter_flag,
    coalesce(is_active, false) AS is_active, coalesce(is_dnp, false) AS is_dnp, minutes_played,
    points, fg_attempts, fg_makes, three_pt_attempts, three_pt_makes, ft_attempts, ft_makes,
    paint_attempts, paint_makes, mid_range_attempts, mid_range_makes, rebounds, assists,
    turnovers, usage_rate";

/// Columns [`BOX_SCORE_COLUMNS`]: every box score with its date in `from..=to`.
pub fn box_scores(d: &Dialect, from: NaiveDate, to: NaiveDate) -> Query {
    let mut b = Builder::new(d);
    let (lo, hi) = (b.date("from", from), b.date("to", to));
    let sql = format!(
        "SELECT {BOX_SCORE_COLUMNS} FROM {pgs} WHERE game_date BETWEEN {lo} AND {hi}
         ORDER BY game_date, player_lookup, game_id",
        pgs = d.table(NBA_UNIVERSE_TABLE),
    );
    b.finish(sql)
}

/// Columns [`BOX_SCORE_COLUMNS`]: the player's last ten box scores up to
/// the date, within the trace window (a bounded partition range).
pub fn recent_box_scores(d: &Dialect, player: &str, date: NaiveDate) -> Query {
    let mut b = Builder::new(d);
    let who = b.text("player", Some(player));
    let (lo, _) = trace_window(date);
    let (lo, hi) = (b.date("lo", lo), b.date("date", date));
    let sql = format!(
        "SELECT {BOX_SCORE_COLUMNS} FROM {pgs}
         WHERE player_lookup = {who} AND game_date BETWEEN {lo} AND {hi}
         ORDER BY game_date DESC, game_id DESC LIMIT 10",
        pgs = d.table(NBA_UNIVERSE_TABLE),
    );
    b.finish(sql)
}

pub fn box_score_row(r: &mut dyn SqlRow) -> Result<PlayerGame> {
    let count = |r: &dyn SqlRow, column: &str| r.int32(column);
    Ok(PlayerGame {
        player_lookup: r.required_text("player_lookup")?,
        player_full_name: r.required_text("player_full_name")?,
        game_id: r.required_text("game_id")?,
        game_date: r.required_date("game_date", "a box score's game_date")?,
        season_year: r.int32("season_year")?.unwrap_or(0),
        team_abbr: r.required_text("team_abbr")?,
        opponent_team_abbr: r.required_text("opponent_team_abbr")?,
        home_game: r.flag("home_game")?.unwrap_or(false),
        starter_flag: r.flag("starter_flag")?.unwrap_or(false),
        is_active: r.flag("is_active")?.unwrap_or(false),
        is_dnp: r.flag("is_dnp")?.unwrap_or(false),
        minutes_played: r.float("minutes_played")?,
        points: count(r, "points")?,
        fg_attempts: count(r, "fg_attempts")?,
        fg_makes: count(r, "fg_makes")?,
        three_pt_attempts: count(r, "three_pt_attempts")?,
        three_pt_makes: count(r, "three_pt_makes")?,
        ft_attempts: count(r, "ft_attempts")?,
        ft_makes: count(r, "ft_makes")?,
        paint_attempts: count(r, "paint_attempts")?,
        paint_makes: count(r, "paint_makes")?,
        mid_range_attempts: count(r, "mid_range_attempts")?,
        mid_range_makes: count(r, "mid_range_makes")?,
        rebounds: count(r, "rebounds")?,
        assists: count(r, "assists")?,
        turnovers: count(r, "turnovers")?,
        usage_rate: r.float("usage_rate")?,
    })
}

/// Columns of [`schedule_row`]: the schedule's games with their date in `from..=to`.
pub fn schedule(d: &Dialect, from: NaiveDate, to: NaiveDate) -> Query {
    let mut b = Builder::new(d);
    let (lo, hi) = (b.date("from", from), b.date("to", to));
    let sql = format!(
        "SELECT game_id, game_date, coalesce(season_year, 0) AS season_year,
                coalesce(home_team_abbr, '') AS home_team_abbr,
                coalesce(away_team_abbr, '') AS away_team_abbr,
                coalesce(game_status, '') AS game_status
         FROM {schedule} WHERE game_date BETWEEN {lo} AND {hi} ORDER BY game_date, game_id",
        schedule = d.table(SCHEDULE),
    );
    b.finish(sql)
}

pub fn schedule_row(r: &mut dyn SqlRow) -> Result<ScheduledGame> {
    Ok(ScheduledGame {
        game_id: r.required_text("game_id")?,
        game_date: r.required_date("game_date", "a scheduled game's game_date")?,
        season_year: r.int32("season_year")?.unwrap_or(0),
        home_team_abbr: r.required_text("home_team_abbr")?,
        away_team_abbr: r.required_text("away_team_abbr")?,
        game_status: r.required_text("game_status")?,
    })
}

/// `columns` (one of the builtins' lists below) of every row the processor
/// wrote for the date.
pub fn builtin_records(d: &Dialect, p: ProcessorId, date: NaiveDate, columns: &str) -> Query {
    let spec = d.pipeline().spec(p);
    let mut b = Builder::new(d);
    let day = b.date("date", date);
    let sql = format!(
        "SELECT {columns} FROM {t} WHERE {c} = {day}",
        t = d.table(&spec.output_table),
        c = spec.date_column,
    );
    b.finish(sql)
}

/// A float column whose null the builtins read as 0.
fn number(r: &dyn SqlRow, column: &str) -> Result<f64> {
    Ok(r.float(column)?.unwrap_or(0.0))
}

fn whole(r: &dyn SqlRow, column: &str) -> Result<i32> {
    Ok(r.int32(column)?.unwrap_or(0))
}

fn label(r: &mut dyn SqlRow, column: &str) -> Result<String> {
    Ok(r.text(column)?.unwrap_or_default())
}

pub const PSZA_COLUMNS: &str =
    "player_lookup, analysis_date, paint_rate_last_10, mid_range_rate_last_10,
    three_pt_rate_last_10, paint_pct_last_10, mid_range_pct_last_10, three_pt_pct_last_10,
    paint_rate_last_20, paint_pct_last_20, attempts_per_game, total_shots_last_10,
    games_in_sample, primary_scoring_zone, sample_quality";

pub fn psza_row(r: &mut dyn SqlRow) -> Result<PszaRecord> {
    Ok(PszaRecord {
        player_lookup: r.required_text("player_lookup")?,
        analysis_date: r.required_date("analysis_date", "a record's analysis_date")?,
        paint_rate_last_10: number(r, "paint_rate_last_10")?,
        mid_range_rate_last_10: number(r, "mid_range_rate_last_10")?,
        three_pt_rate_last_10: number(r, "three_pt_rate_last_10")?,
        paint_pct_last_10: r.float("paint_pct_last_10")?,
        mid_range_pct_last_10: r.float("mid_range_pct_last_10")?,
        three_pt_pct_last_10: r.float("three_pt_pct_last_10")?,
        paint_rate_last_20: r.float("paint_rate_last_20")?,
        paint_pct_last_20: r.float("paint_pct_last_20")?,
        attempts_per_game: number(r, "attempts_per_game")?,
        total_shots_last_10: whole(r, "total_shots_last_10")?,
        games_in_sample: whole(r, "games_in_sample")?,
        primary_scoring_zone: label(r, "primary_scoring_zone")?,
        sample_quality: label(r, "sample_quality")?,
    })
}

pub const PDC_COLUMNS: &str =
    "player_lookup, cache_date, points_avg_last_5, points_avg_last_10, points_avg_season,
    points_std_last_10, minutes_avg_last_10, usage_rate_last_10, ts_pct_last_10,
    games_played_season, games_in_last_7_days, games_in_last_14_days, minutes_in_last_7_days,
    minutes_in_last_14_days, back_to_backs_last_14_days, team_pace_last_10, early_season_flag";

pub fn pdc_row(r: &mut dyn SqlRow) -> Result<PdcRecord> {
    Ok(PdcRecord {
        player_lookup: r.required_text("player_lookup")?,
        cache_date: r.required_date("cache_date", "a record's cache_date")?,
        points_avg_last_5: number(r, "points_avg_last_5")?,
        points_avg_last_10: number(r, "points_avg_last_10")?,
        points_avg_season: number(r, "points_avg_season")?,
        points_std_last_10: number(r, "points_std_last_10")?,
        minutes_avg_last_10: number(r, "minutes_avg_last_10")?,
        usage_rate_last_10: r.float("usage_rate_last_10")?,
        ts_pct_last_10: r.float("ts_pct_last_10")?,
        games_played_season: whole(r, "games_played_season")?,
        games_in_last_7_days: whole(r, "games_in_last_7_days")?,
        games_in_last_14_days: whole(r, "games_in_last_14_days")?,
        minutes_in_last_7_days: number(r, "minutes_in_last_7_days")?,
        minutes_in_last_14_days: number(r, "minutes_in_last_14_days")?,
        back_to_backs_last_14_days: whole(r, "back_to_backs_last_14_days")?,
        team_pace_last_10: r.float("team_pace_last_10")?,
        early_season_flag: r.flag("early_season_flag")?.unwrap_or(false),
    })
}

pub const PCF_COLUMNS: &str =
    "player_lookup, game_date, opponent_team_abbr, fatigue_score, shot_zone_mismatch_score,
    pace_score, usage_spike_score, total_composite_adjustment";

pub fn pcf_row(r: &mut dyn SqlRow) -> Result<PcfRecord> {
    Ok(PcfRecord {
        player_lookup: r.required_text("player_lookup")?,
        game_date: r.required_date("game_date", "a record's game_date")?,
        opponent_team_abbr: label(r, "opponent_team_abbr")?,
        fatigue_score: number(r, "fatigue_score")?,
        shot_zone_mismatch_score: number(r, "shot_zone_mismatch_score")?,
        pace_score: number(r, "pace_score")?,
        usage_spike_score: number(r, "usage_spike_score")?,
        total_composite_adjustment: number(r, "total_composite_adjustment")?,
    })
}

/// Columns entity_id, category: a processor's player-level failures on the
/// date, as the downstream builtins see them (under its code or its name).
pub fn player_failure_categories(d: &Dialect, p: ProcessorId, date: NaiveDate) -> Query {
    let spec = d.pipeline().spec(p);
    let mut b = Builder::new(d);
    let day = b.date("date", date);
    let name = b.text("name", Some(&spec.name));
    let code = b.text("code", Some(&spec.code));
    let date_level = b.text("date_level", Some(DATE_LEVEL));
    let sql = format!(
        "SELECT entity_id, coalesce(failure_category, '') AS category FROM {failures}
         WHERE analysis_date = {day} AND upper(processor_name) IN (upper({name}), upper({code}))
           AND entity_id <> {date_level}",
        failures = d.failures(),
    );
    b.finish(sql)
}

pub fn failure_category_row(r: &mut dyn SqlRow) -> Result<(String, String)> {
    Ok((r.required_text("entity_id")?, label(r, "category")?))
}
