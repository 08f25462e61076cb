"""The team's BigQuery as its own jobs reach it: Google's client, the
tables' real shapes. Shared by team_tables.py and pdc_backfill.py.

Real BigQuery by default (Application Default Credentials, GOOGLE_CLOUD_PROJECT).
For the emulator (Rollcall's tests and the README walk-through):
  TEAM_BQ_URL=http://127.0.0.1:9050   the emulator's address
  TEAM_BQ_PROJECT=local-proj          the project
  TEAM_DATASET_PREFIX=inplace_        prepended to every dataset (Rollcall's
                                      --dataset-prefix, so both see one warehouse)
"""

import os

from google.cloud import bigquery

PROJECT = os.environ.get("TEAM_BQ_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT", "local-proj")
PREFIX = os.environ.get("TEAM_DATASET_PREFIX", "")

PROCESSOR = "PlayerDailyCacheProcessor"

# The real pipeline's shapes: 16 columns of failures, a run history with a
# status word, the cache with columns Rollcall never reads.
SCHEMAS = {
    "nba_processing.precompute_failures": (
        "analysis_date",
        [
            ("processor_name", "STRING"), ("run_id", "STRING"), ("analysis_date", "DATE"),
            ("entity_id", "STRING"), ("failure_category", "STRING"), ("failure_reason", "STRING"),
            ("can_retry", "BOOL"), ("failure_type", "STRING"), ("is_correctable", "BOOL"),
            ("expected_game_count", "INT64"), ("actual_game_count", "INT64"),
            ("missing_game_dates", "STRING"), ("raw_data_checked", "BOOL"),
            ("resolution_status", "STRING"), ("resolved_at", "TIMESTAMP"), ("created_at", "TIMESTAMP"),
        ],
    ),
    "nba_reference.processor_run_history": (
        "data_date",
        [
            ("processor_name", "STRING"), ("run_id", "STRING"), ("status", "STRING"),
            ("data_date", "DATE"), ("started_at", "TIMESTAMP"), ("processed_at", "TIMESTAMP"),
            ("records_processed", "INT64"), ("records_failed", "INT64"), ("errors", "STRING"),
            ("trigger_source", "STRING"),
        ],
    ),
    "nba_precompute.player_daily_cache": (
        "cache_date",
        [
            ("player_lookup", "STRING"), ("cache_date", "DATE"), ("games_played_season", "INT64"),
            ("points_avg_last_10", "FLOAT64"), ("minutes_avg_last_10", "FLOAT64"),
            ("source_run_id", "STRING"), ("processed_at", "TIMESTAMP"),
        ],
    ),
}


def client():
    url = os.environ.get("TEAM_BQ_URL")
    if not url:
        return bigquery.Client(project=PROJECT)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    # Rollcall's --bigquery-url ends in /bigquery/v2; the client adds it.
    base = url.split("/bigquery/v2")[0]
    return bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=base),
    )


def table(name):
    """`dataset.table` as the project's full name."""
    dataset, table_name = name.split(".")
    return f"{PROJECT}.{PREFIX}{dataset}.{table_name}"
