"""Creates the team's tables (if missing) in their real shapes: what the
team's warehouse already holds before Rollcall is pointed at it."""

from google.cloud import bigquery

import team_bq


def main():
    bq = team_bq.client()
    for name, (partition, columns) in team_bq.SCHEMAS.items():
        dataset = team_bq.table(name).rsplit(".", 1)[0]
        bq.create_dataset(dataset, exists_ok=True)
        t = bigquery.Table(
            team_bq.table(name),
            schema=[bigquery.SchemaField(c, ty) for c, ty in columns],
        )
        t.time_partitioning = bigquery.TimePartitioning(field=partition)
        bq.create_table(t, exists_ok=True)
        print(f"table {name} ready")


if __name__ == "__main__":
    main()
