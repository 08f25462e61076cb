-- Every table of docs/DESIGN.md §2, with the real pipeline's dataset and table names.
-- BigQuery partitions these by their date column; DuckDB has no partitions, the
-- date column is simply the first filter of every query.

CREATE SCHEMA IF NOT EXISTS nba_reference;
CREATE SCHEMA IF NOT EXISTS nba_analytics;
CREATE SCHEMA IF NOT EXISTS nba_precompute;
CREATE SCHEMA IF NOT EXISTS nba_predictions;
CREATE SCHEMA IF NOT EXISTS nba_processing;

CREATE TABLE nba_reference.nba_schedule (
    game_id VARCHAR NOT NULL,
    game_date DATE NOT NULL,
    season_year INTEGER NOT NULL,
    home_team_abbr VARCHAR NOT NULL,
    away_team_abbr VARCHAR NOT NULL,
    game_status VARCHAR NOT NULL
);

CREATE TABLE nba_analytics.player_game_summary (
    player_lookup VARCHAR NOT NULL,
    player_full_name VARCHAR,
    game_id VARCHAR NOT NULL,
    game_date DATE NOT NULL,
    season_year INTEGER,
    team_abbr VARCHAR,
    opponent_team_abbr VARCHAR,
    home_game BOOLEAN,
    starter_flag BOOLEAN,
    is_active BOOLEAN,
    is_dnp BOOLEAN,
    minutes_played DOUBLE,
    points INTEGER,
    fg_attempts INTEGER,
    fg_makes INTEGER,
    three_pt_attempts INTEGER,
    three_pt_makes INTEGER,
    ft_attempts INTEGER,
    ft_makes INTEGER,
    paint_attempts INTEGER,
    paint_makes INTEGER,
    mid_range_attempts INTEGER,
    mid_range_makes INTEGER,
    rebounds INTEGER,
    assists INTEGER,
    turnovers INTEGER,
    usage_rate DOUBLE
);

CREATE TABLE nba_precompute.player_shot_zone_analysis (
    player_lookup VARCHAR NOT NULL,
    analysis_date DATE NOT NULL,
    paint_rate_last_10 DOUBLE,
    mid_range_rate_last_10 DOUBLE,
    three_pt_rate_last_10 DOUBLE,
    paint_pct_last_10 DOUBLE,
    mid_range_pct_last_10 DOUBLE,
    three_pt_pct_last_10 DOUBLE,
    paint_rate_last_20 DOUBLE,
    paint_pct_last_20 DOUBLE,
    attempts_per_game DOUBLE,
    total_shots_last_10 INTEGER,
    games_in_sample INTEGER,
    primary_scoring_zone VARCHAR,
    sample_quality VARCHAR,
    run_id VARCHAR,
    processed_at TIMESTAMP
);

CREATE TABLE nba_precompute.player_daily_cache (
    player_lookup VARCHAR NOT NULL,
    cache_date DATE NOT NULL,
    points_avg_last_5 DOUBLE,
    points_avg_last_10 DOUBLE,
    points_avg_season DOUBLE,
    points_std_last_10 DOUBLE,
    minutes_avg_last_10 DOUBLE,
    usage_rate_last_10 DOUBLE,
    ts_pct_last_10 DOUBLE,
    games_played_season INTEGER,
    games_in_last_7_days INTEGER,
    games_in_last_14_days INTEGER,
    minutes_in_last_7_days DOUBLE,
    minutes_in_last_14_days DOUBLE,
    back_to_backs_last_14_days INTEGER,
    team_pace_last_10 DOUBLE,
    early_season_flag BOOLEAN,
    run_id VARCHAR,
    processed_at TIMESTAMP
);

CREATE TABLE nba_precompute.player_composite_factors (
    player_lookup VARCHAR NOT NULL,
    game_date DATE NOT NULL,
    opponent_team_abbr VARCHAR,
    fatigue_score DOUBLE,
    shot_zone_mismatch_score DOUBLE,
    pace_score DOUBLE,
    usage_spike_score DOUBLE,
    total_composite_adjustment DOUBLE,
    run_id VARCHAR,
    processed_at TIMESTAMP
);

CREATE TABLE nba_predictions.ml_feature_store_v2 (
    player_lookup VARCHAR NOT NULL,
    game_date DATE NOT NULL,
    feature_version VARCHAR,
    feature_names VARCHAR[],
    features DOUBLE[],
    feature_quality_score DOUBLE,
    run_id VARCHAR,
    processed_at TIMESTAMP
);

CREATE TABLE nba_processing.precompute_failures (
    processor_name VARCHAR NOT NULL,
    run_id VARCHAR,
    analysis_date DATE NOT NULL,
    entity_id VARCHAR NOT NULL,
    failure_category VARCHAR,
    failure_reason VARCHAR,
    can_retry BOOLEAN,
    upstream_processor VARCHAR,
    upstream_category VARCHAR,
    created_at TIMESTAMP
);

CREATE TABLE nba_processing.precompute_processor_runs (
    run_id VARCHAR NOT NULL,
    job_id VARCHAR,
    processor_name VARCHAR NOT NULL,
    analysis_date DATE NOT NULL,
    status VARCHAR NOT NULL,
    records_written INTEGER,
    failures_written INTEGER,
    expected_count INTEGER,
    dependency_check_passed BOOLEAN,
    duration_ms BIGINT,
    processor_version VARCHAR,
    error VARCHAR,
    started_at TIMESTAMP
);

CREATE TABLE rollcall_meta.jobs (
    id VARCHAR PRIMARY KEY,
    requested_by VARCHAR,
    request VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    progress VARCHAR,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    error VARCHAR
);
