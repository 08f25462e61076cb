"""The team's PlayerDailyCacheProcessor backfill, as its own scripts run
it: reads the box scores, writes its cache, failure and run-history rows
through Google's BigQuery client. Rollcall never sees this program's
output as data: it starts it (`rerun` in pipeline.toml), keeps its lines for
the job page, and reads what it wrote.

  python3 pdc_backfill.py --start-date 2021-11-01 --end-date 2021-11-07 [--faults]

`--faults` is the job as it ran before its bugs were fixed, with the real
pipeline's known faults: some players dropped without a failure row, a
failure row left beside a record, a legacy spelling (`calculation_error`),
and a date-level row where the upstream looked missing. Without it, a day is
rewritten whole (its cache and its own failure rows replaced).
"""

import argparse
import datetime as dt
import hashlib
import uuid

from google.cloud import bigquery

import team_bq

MIN_GAMES = 3
EXPECTED = "is_active AND (minutes_played > 0 OR fg_attempts > 0)"


def bucket(player, n):
    return int(hashlib.sha256(player.encode()).hexdigest(), 16) % n


def days(start, end):
    d = start
    while d <= end:
        yield d
        d += dt.timedelta(days=1)


def query(bq, sql, **params):
    types = {dt.date: "DATE", str: "STRING"}
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter(k, types[type(v)], v) for k, v in params.items()
        ]
    )
    return list(bq.query(sql, job_config=config).result())


def history(bq, day):
    """Each expected player of `day` with their earlier games this season."""
    games = team_bq.table("nba_analytics.player_game_summary")
    expected = [
        r.player_lookup
        for r in query(
            bq,
            f"SELECT DISTINCT player_lookup FROM `{games}` WHERE game_date = @day AND {EXPECTED}",
            day=day,
        )
    ]
    past = {}
    for r in query(
        bq,
        f"SELECT player_lookup, points, minutes_played FROM `{games}`"
        " WHERE game_date < @day AND game_date >= @season AND is_active"
        " ORDER BY game_date DESC",
        day=day,
        season=day - dt.timedelta(days=200),
    ):
        past.setdefault(r.player_lookup, []).append(r)
    return sorted(expected), past


def failure(run_id, day, entity, category, reason, now, games=None):
    return {
        "processor_name": team_bq.PROCESSOR, "run_id": run_id, "analysis_date": day.isoformat(),
        "entity_id": entity, "failure_category": category, "failure_reason": reason,
        "can_retry": category != "EXPECTED_INCOMPLETE", "failure_type": "PROCESSING",
        "is_correctable": True, "expected_game_count": MIN_GAMES, "actual_game_count": games,
        "missing_game_dates": None, "raw_data_checked": True, "resolution_status": "UNRESOLVED",
        "resolved_at": None, "created_at": now,
    }


def insert(bq, name, rows):
    """DML, not streaming inserts: a re-run deletes the day's rows again, and
    BigQuery refuses DML over rows still in a streaming buffer."""
    _, columns = team_bq.SCHEMAS[name]
    for chunk in range(0, len(rows), 200):
        part = rows[chunk:chunk + 200]
        values, params = [], []
        for i, row in enumerate(part):
            names = []
            for column, ty in columns:
                key = f"{column}_{i}"
                names.append(f"@{key}")
                params.append(bigquery.ScalarQueryParameter(key, ty, row.get(column)))
            values.append(f"({', '.join(names)})")
        sql = f"INSERT INTO `{team_bq.table(name)}` ({', '.join(c for c, _ in columns)}) VALUES {', '.join(values)}"
        bq.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params)).result()


def backfill_day(bq, day, faults, first_day):
    run_id = f"pdc-{day:%Y%m%d}-{uuid.uuid4().hex[:8]}"
    started = dt.datetime.now(dt.timezone.utc).isoformat()
    expected, past = history(bq, day)
    if not expected:
        print(f"{day}: no games")
        return
    cache, failures = [], []
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    if faults and first_day:
        # The upstream looked missing at the time: one date-level row.
        failures.append(failure(run_id, day, "DATE_LEVEL", "MISSING_DEPENDENCY",
                                "box scores not loaded yet", now))
        expected = []
    for player in expected:
        games = past.get(player, [])[:10]
        if faults and bucket(player, 7) == 0:
            continue  # dropped: no record, no failure row
        if faults and bucket(player, 11) == 1:
            failures.append(failure(run_id, day, player, "calculation_error",
                                    "ZeroDivisionError in minutes average", now, len(games)))
            continue
        if len(games) < MIN_GAMES:
            failures.append(failure(run_id, day, player, "EXPECTED_INCOMPLETE",
                                    f"{len(games)} games, need {MIN_GAMES}", now, len(games)))
            continue
        if faults and bucket(player, 13) == 2:
            # A stale failure row beside the record.
            failures.append(failure(run_id, day, player, "INCOMPLETE_UPSTREAM",
                                    "upstream window incomplete", now, len(games)))
        cache.append({
            "player_lookup": player, "cache_date": day.isoformat(),
            "games_played_season": len(past.get(player, [])),
            "points_avg_last_10": sum((g.points or 0) for g in games) / len(games),
            "minutes_avg_last_10": sum((g.minutes_played or 0) for g in games) / len(games),
            "source_run_id": run_id, "processed_at": now,
        })
    if not faults:
        # The fixed job rewrites its day: its cache rows and its failure rows.
        for name, column, extra in [
            ("nba_precompute.player_daily_cache", "cache_date", ""),
            ("nba_processing.precompute_failures", "analysis_date",
             f" AND processor_name = '{team_bq.PROCESSOR}'"),
        ]:
            query(bq, f"DELETE FROM `{team_bq.table(name)}` WHERE {column} = @day{extra}", day=day)
    insert(bq, "nba_precompute.player_daily_cache", cache)
    insert(bq, "nba_processing.precompute_failures", failures)
    insert(bq, "nba_reference.processor_run_history", [{
        "processor_name": team_bq.PROCESSOR, "run_id": run_id, "status": "success",
        "data_date": day.isoformat(), "started_at": started,
        "processed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "records_processed": len(cache), "records_failed": len(failures), "errors": None,
        "trigger_source": "backfill",
    }])
    print(f"{day}: {len(cache)} cached, {len(failures)} failures ({run_id})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start-date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--end-date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--faults", action="store_true")
    args = parser.parse_args()
    if args.end_date < args.start_date:
        raise SystemExit("--end-date is before --start-date")
    bq = team_bq.client()
    for i, day in enumerate(days(args.start_date, args.end_date)):
        backfill_day(bq, day, args.faults, i == 0)


if __name__ == "__main__":
    main()
