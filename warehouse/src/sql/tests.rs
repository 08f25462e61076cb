use super::*;
use domain::Builtin;

fn nba() -> Arc<Pipeline> {
    Arc::new(domain::pipeline::nba())
}

/// The shipped pipeline's processor running `b`.
fn id(b: Builtin) -> ProcessorId {
    nba().builtin(b).unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 11, d).unwrap()
}

/// PDC's failure page on 2021-11-10 on DuckDB.
fn pdc_failures(search: Option<&str>, paging: Paging) -> Query {
    let filter = FailureFilter {
        search: search.map(String::from),
        limit: paging.limit,
        offset: paging.offset,
        ..FailureFilter::default()
    };
    failure_rows(&Dialect::duckdb(nba()), id(Builtin::Pdc), day(10), &filter)
}

#[test]
fn a_failure_page_keeps_entity_rows_or_the_date_level_row() {
    let of = |scope| {
        let filter = FailureFilter {
            limit: 5,
            scope,
            ..FailureFilter::default()
        };
        failure_rows(&Dialect::duckdb(nba()), id(Builtin::Pdc), day(10), &filter)
    };
    assert!(!of(FailureScope::Any).sql.contains("entity_id <>"));
    let entity = of(FailureScope::Entity);
    assert!(entity.sql.contains("AND entity_id <> $"), "{}", entity.sql);
    let date_level = of(FailureScope::DateLevel);
    assert!(
        date_level.sql.contains("AND entity_id = $"),
        "{}",
        date_level.sql
    );
    assert!(date_level
        .args
        .iter()
        .any(|(n, v)| *n == "date_level" && *v == Value::Text(Some(DATE_LEVEL.into()))));
}

#[test]
fn duckdb_numbers_each_argument_once() {
    let q = pdc_failures(Some("lebron"), Paging::within(5, 0));
    let names: Vec<&str> = q.args.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["date", "code", "name", "category", "search", "lim", "off"]
    );
    // `category` and `search` are used twice but bound once.
    assert_eq!(q.sql.matches("$4").count(), 2);
    assert!(!q.sql.contains('@'), "{}", q.sql);
}

#[test]
fn bigquery_names_arguments_and_qualifies_tables() {
    let d = Dialect::bigquery(nba(), |t| format!("`p.x_{t}`"));
    let q = unaccounted(
        &d,
        DateRange::new(day(5), day(6), 10).unwrap(),
        &[id(Builtin::Psza)],
        None,
        None,
    );
    assert!(q.sql.contains("@start") && q.sql.contains("@date_level"));
    assert!(q.sql.contains("`p.x_nba_analytics.player_game_summary`"));
    assert!(!q.sql.contains("$1"));
    assert!(!q.sql.contains("LIMIT"));
}

#[test]
fn user_text_is_never_in_the_sql() {
    let hostile = "x'); DROP TABLE jobs; --";
    for q in [
        failure_rows(
            &Dialect::duckdb(nba()),
            id(Builtin::Mlfs),
            day(7),
            &FailureFilter {
                category: Some(hostile.into()),
                search: Some(hostile.into()),
                limit: 1,
                ..FailureFilter::default()
            },
        ),
        player_known(&Dialect::duckdb(nba()), hostile, day(7)),
        player_failures(&Dialect::duckdb(nba()), hostile, day(7)),
    ] {
        assert!(!q.sql.contains("DROP"), "{}", q.sql);
        assert!(q
            .args
            .iter()
            .any(|(_, v)| *v == Value::Text(Some(hostile.into()))));
    }
}

#[test]
fn a_page_past_the_end_asks_the_first_row_for_the_total() {
    let q = pdc_failures(None, Paging::within(20, 40));
    let first_row = page_of::<(), ()>(&q, Vec::new(), |r| r).unwrap_err();
    let int = |q: &Query, name| q.args.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    assert_eq!(int(&first_row, "lim"), Value::Int(1));
    assert_eq!(int(&first_row, "off"), Value::Int(0));
    assert_eq!(first_row.sql, q.sql);
    let page: Page<()> = past_the_end(&q, &[((), 57)]);
    assert_eq!((page.total, page.offset, page.limit), (57, 40, 20));
    assert!(page.items.is_empty());

    // A page with rows reads the total off them; the first page, even empty, needs nothing more.
    let page = page_of(&q, vec![("a", 41), ("b", 41)], str::to_uppercase).unwrap();
    assert_eq!(
        (page.items, page.total),
        (vec!["A".to_string(), "B".into()], 41)
    );
    let first = pdc_failures(None, Paging::within(20, 0));
    assert_eq!(
        page_of::<(), ()>(&first, Vec::new(), |r| r).unwrap().total,
        0
    );
}

#[test]
fn the_shipped_pipeline_file_names_these_tables() {
    let nba = domain::pipeline::nba();
    assert_eq!(nba.universe.table, PLAYER_GAMES);
    assert_eq!(nba.failures_table, FAILURES);
    assert_eq!(nba.runs_table, RUNS);
}

#[test]
fn a_universe_of_its_own_is_a_table_of_its_declared_columns() {
    let nba = domain::pipeline::nba();
    assert_eq!(universe_table_columns(&nba.universe), None);
    let orders = Pipeline::parse(include_str!("../../../pipelines/orders/pipeline.toml")).unwrap();
    assert_eq!(
        universe_table_columns(&orders.universe).unwrap(),
        vec![
            ("customer_id", ColumnKind::Text),
            ("order_date", ColumnKind::Date),
            ("order_id", ColumnKind::Text),
            ("amount", ColumnKind::Float),
            ("status", ColumnKind::Text),
        ]
    );
    // The overview counts the NBA pipeline's eight tables, in order.
    let counted: Vec<&str> = counted_tables(&nba).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        counted,
        vec![
            SCHEDULE,
            PLAYER_GAMES,
            "nba_precompute.player_shot_zone_analysis",
            "nba_precompute.player_daily_cache",
            "nba_precompute.player_composite_factors",
            "nba_predictions.ml_feature_store_v2",
            FAILURES,
            RUNS
        ]
    );
    let q = table_counts(
        &Dialect::duckdb(Arc::new(nba.clone())),
        DateRange::new(day(1), day(2), 10).unwrap(),
    );
    assert_eq!(q.sql.matches("UNION ALL").count(), 7);
    let counts = table_counts_of(&nba, &[(1, 40), (7, 3)]);
    assert_eq!((counts[1].rows, counts[7].rows, counts[0].rows), (40, 3, 0));
}

#[test]
fn observed_tables_need_only_their_keys() {
    let text = domain::pipeline::NBA_PIPELINE;
    let other = |old: &str, new: &str| Pipeline::parse(&text.replacen(old, new, 1)).unwrap();
    let observed = other(
        "[\"PSZA\", \"PDC\", \"PCF\"]\nruns = \"builtin\"",
        "[\"PSZA\", \"PDC\", \"PCF\"]\nruns = \"observe\"",
    );
    let mlfs = &observed.processors[3];
    let table = pipeline_table(mlfs).unwrap();
    assert!(!table.exact);
    let cols: Vec<&str> = table.columns.into_iter().map(|(c, _)| c).collect();
    assert_eq!(cols, vec!["player_lookup", "game_date"]);
    assert_eq!(pipeline_table(&observed.processors[0]), None);
}
