//! Pipeline files that are refused (with the message each gets), and the
//! queries a parsed pipeline answers (order, codes, downstream).

use super::*;

/// Where and why `text` is refused.
pub(super) fn refused(text: &str) -> Refusal {
    match Pipeline::parse(text) {
        Err(DomainError::BadPipeline { line, message, .. }) => Refusal { line, message },
        other => panic!("not refused as a pipeline: {other:?}"),
    }
}

#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) line: usize,
    pub(super) message: String,
}

/// The shipped file with one line replaced.
pub(super) fn with(old: &str, new: &str) -> String {
    assert!(NBA_PIPELINE.contains(old), "{old}");
    NBA_PIPELINE.replacen(old, new, 1)
}

pub(super) fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn errors_name_the_line() {
    let text = with(
        r#"depends_on = ["PDC", "PSZA"]"#,
        r#"depends_on = ["PDC", "NOPE"]"#,
    );
    let e = refused(&text);
    assert_eq!(e.line, line_of(&text, "\"NOPE\""), "{e:?}");
    assert!(e.message.contains("NOPE"), "{e:?}");

    let text = with("min_games = 3", "min_games = \"three\"");
    assert_eq!(refused(&text).line, line_of(&text, "\"three\""));

    let text = with("runs = \"builtin\"", "runs = \"sometimes\"");
    assert_eq!(refused(&text).line, line_of(&text, "sometimes"));

    let text = with("min_games = 10", "min_games = 10\ncolour = \"red\"");
    let e = refused(&text);
    assert_eq!(e.line, line_of(&text, "colour"), "{e:?}");

    let e = refused("[universe\ntable = 1");
    assert_eq!(e.line, 1, "{e:?}");
}

#[test]
fn hostile_names_duplicates_and_cycles_are_refused() {
    for (old, new) in [
        (
            r#"output_table = "nba_precompute.player_daily_cache""#,
            r#"output_table = "x; DROP TABLE jobs; --""#,
        ),
        (r#"date_column = "cache_date""#, r#"date_column = "a.b""#),
        (
            r#"name = "PlayerDailyCacheProcessor""#,
            r#"name = "Daily' THEN 1 END; --""#,
        ),
        (r#"code = "PDC""#, r#"code = "PSZA""#),
        (r#"code = "PDC""#, r#"code = "pdc""#),
        (
            r#"name = "PlayerDailyCacheProcessor""#,
            r#"name = "playershotzoneanalysisprocessor""#,
        ),
        (
            r#"expected = "is_active AND (minutes_played > 0 OR fg_attempts > 0)""#,
            r#"expected = "TRUE; DELETE FROM x""#,
        ),
    ] {
        let text = with(old, new);
        let e = refused(&text);
        let replaced = NBA_PIPELINE[..NBA_PIPELINE.find(old).unwrap()]
            .lines()
            .count()
            + 1;
        assert_eq!(e.line, replaced, "{new}: {e:?}");
    }
    // A processor may only depend on one declared before it: no cycles.
    let text = with(
        "min_games = 10\n",
        "min_games = 10\ndepends_on = [\"MLFS\"]\n",
    );
    assert!(refused(&text).message.contains("not declared before"));
}

#[test]
fn the_file_may_give_the_plural_and_counts_agree_in_number() {
    let named = ORDERS_PIPELINE.replacen(
        "entity_name = \"customer\"\n",
        "entity_name = \"aircraft\"\nentities_name = \"aircraft\"\n",
        1,
    );
    let u = Pipeline::parse(&named).unwrap().universe;
    assert_eq!(
        (u.entity(), u.entities().as_str()),
        ("aircraft", "aircraft")
    );
    assert_eq!(
        (u.count(1), u.count(3)),
        ("1 aircraft".to_string(), "3 aircraft".to_string())
    );
    let u = Pipeline::parse(ORDERS_PIPELINE).unwrap().universe;
    assert_eq!(
        (u.count(1), u.count(0)),
        ("1 customer".to_string(), "0 customers".to_string())
    );
    let alone = ORDERS_PIPELINE.replacen(
        "entity_name = \"customer\"\n",
        "entities_name = \"folk\"\n",
        1,
    );
    assert!(refused(&alone).message.contains("needs entity_name"));
    let shouting = ORDERS_PIPELINE.replacen(
        "entity_name = \"customer\"\n",
        "entity_name = \"customer\"\nentities_name = \"CUSTOMERS\"\n",
        1,
    );
    assert!(refused(&shouting).message.contains("entities_name"));
}

#[test]
fn expected_must_be_one_balanced_condition() {
    let expected = r#"expected = "status <> 'cancelled'""#;
    let orders = |condition: &str| {
        assert!(ORDERS_PIPELINE.contains(expected));
        ORDERS_PIPELINE.replacen(expected, &format!("expected = {condition:?}"), 1)
    };
    for fine in [
        "status = 'paid' OR status = 'cancelled'",
        "(status = 'paid' OR (amount > 0 AND status <> 'x')) OR amount IS NULL",
        "status = 'it''s; -- not a comment (really'",
        "status <> 'a/*b'",
    ] {
        let p = Pipeline::parse(&orders(fine)).unwrap_or_else(|e| panic!("{fine}: {e}"));
        assert_eq!(p.universe.expected, fine);
    }
    for (bad, why) in [
        ("status = 'paid' -- only paid", "`--`"),
        ("status = 'paid' /* only paid */", "`/*`"),
        ("(status = 'paid'", "never closed"),
        ("status = 'paid')", "closes nothing"),
        ("status = 'paid') OR (TRUE", "closes nothing"),
        ("status = 'paid", "quote"),
        ("TRUE; DELETE FROM x", "`;`"),
        ("   ", "empty"),
    ] {
        let text = orders(bad);
        let e = refused(&text);
        assert!(e.message.contains(why), "{bad}: {e:?}");
        assert_eq!(e.line, line_of(&text, "expected = "), "{bad}: {e:?}");
    }
}

#[test]
fn two_processors_never_share_a_table() {
    let daily = r#"output_table = "shop_metrics.customer_daily_totals""#;
    let loyalty = r#"output_table = "shop_metrics.customer_loyalty""#;
    for (new, why) in [
        (
            r#"output_table = "shop_metrics.customer_daily_totals""#,
            "table of processor DAILY",
        ),
        (
            r#"output_table = "SHOP_METRICS.Customer_Daily_Totals""#,
            "table of processor DAILY",
        ),
        (r#"output_table = "shop.orders""#, "table of the universe"),
        (
            r#"output_table = "nba_precompute.player_daily_cache""#,
            "table of the builtin PDC",
        ),
        (r#"output_table = "rollcall_meta.loyalty""#, "rollcall_meta"),
        (
            r#"output_table = "information_schema.loyalty""#,
            "information_schema",
        ),
        (r#"output_table = "pg_catalog.loyalty""#, "pg_catalog"),
        (r#"output_table = "Main.loyalty""#, "main"),
    ] {
        assert!(ORDERS_PIPELINE.contains(daily));
        let text = ORDERS_PIPELINE.replacen(loyalty, new, 1);
        let e = refused(&text);
        assert!(e.message.contains(why), "{new}: {e:?}");
        assert!(e.message.contains("LOYALTY"), "{new}: {e:?}");
        let line = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(new))
            .last()
            .unwrap()
            .0
            + 1;
        assert_eq!(e.line, line, "{new}: {e:?}");
    }
    let text = ORDERS_PIPELINE.replacen(
        r#"table = "shop.orders""#,
        r#"table = "rollcall_meta.orders""#,
        1,
    );
    assert!(refused(&text).message.contains("rollcall_meta"));
}

#[test]
fn reserved_sql_words_are_refused_as_names() {
    for (old, new) in [
        (r#"date_column = "cache_date""#, r#"date_column = "Order""#),
        (
            r#"output_table = "nba_precompute.player_daily_cache""#,
            r#"output_table = "select.player_daily_cache""#,
        ),
    ] {
        let text = with(old, new);
        let e = refused(&text);
        assert!(e.message.contains("reserved SQL word"), "{e:?}");
        assert_eq!(e.line, line_of(&text, new), "{e:?}");
    }
    let text = ORDERS_PIPELINE.replacen(
        r#"{ name = "revenue", type = "float" }"#,
        r#"{ name = "group", type = "float" }"#,
        1,
    );
    let e = refused(&text);
    assert!(
        e.message.contains("\"group\" is a reserved SQL word"),
        "{e:?}"
    );
    assert!(!is_sql_reserved("orders") && is_sql_reserved("WHERE"));
}

#[test]
fn failure_and_run_tables_are_tables_of_their_own() {
    let orders = |failures: &str, runs: &str| {
        ORDERS_PIPELINE
            .replacen(
                r#"failures = "shop_ops.rollcall_failures""#,
                &format!("failures = {failures:?}"),
                1,
            )
            .replacen(
                r#"runs = "shop_ops.rollcall_runs""#,
                &format!("runs = {runs:?}"),
                1,
            )
    };
    let p = Pipeline::parse(&orders(
        "shop_ops.rollcall_failures",
        "shop_ops.rollcall_runs",
    ))
    .unwrap();
    assert_eq!(
        (p.failures_table.as_str(), p.runs_table.as_str()),
        ("shop_ops.rollcall_failures", "shop_ops.rollcall_runs")
    );
    for (failures, runs, why) in [
        ("shop.orders", "ops.runs", "the universe"),
        ("ops.same", "OPS.SAME", "[tables] failures"),
        (
            "ops.failures",
            "rollcall_meta.jobs",
            "Rollcall's own dataset",
        ),
        (
            "shop_metrics.customer_daily_totals",
            "ops.runs",
            "processor DAILY",
        ),
        (
            "ops.failures",
            "nba_precompute.player_daily_cache",
            "the builtin PDC",
        ),
        // Another dataset, but the same staging twin as a command's table.
        (
            "ops.customer_daily_totals",
            "ops.runs",
            "ends like the table of processor DAILY",
        ),
        (
            "ops.orders",
            "ops.runs",
            "ends like the table of the universe",
        ),
    ] {
        let text = orders(failures, runs);
        let e = refused(&text);
        assert!(e.message.contains(why), "{failures}, {runs}: {e:?}");
        let bad = if e.message.contains("[tables] runs") {
            format!("runs = {runs:?}")
        } else {
            format!("failures = {failures:?}")
        };
        assert_eq!(e.line, line_of(&text, &bad), "{e:?}");
    }
    // Two commands whose tables would share a staging twin.
    let text = ORDERS_PIPELINE.replacen(
        r#"output_table = "shop_metrics.customer_loyalty""#,
        r#"output_table = "other.customer_daily_totals""#,
        1,
    );
    let e = refused(&text);
    assert!(e.message.contains("processor LOYALTY"), "{e:?}");
    assert_eq!(
        e.line,
        line_of(&text, "other.customer_daily_totals"),
        "{e:?}"
    );
}

/// The shipped pipeline's processor running `b`.
pub(super) fn id_of(p: &Pipeline, b: Builtin) -> ProcessorId {
    p.builtin(b).unwrap()
}

#[test]
fn declaration_is_in_dependency_order() {
    let nba = nba();
    for (i, spec) in nba.processors.iter().enumerate() {
        assert_eq!(spec.id.order(), i);
        for up in &spec.depends_on {
            assert!(
                up.order() < i,
                "{} depends on later {}",
                spec.code,
                nba.code(*up)
            );
        }
    }
}

#[test]
fn parses_codes_and_names() {
    let nba = nba();
    let [pdc, mlfs] = [Builtin::Pdc, Builtin::Mlfs].map(|b| id_of(&nba, b));
    assert_eq!(nba.processor("pdc").unwrap(), pdc);
    assert_eq!(nba.processor("MLFeatureStoreProcessor").unwrap(), mlfs);
    assert!(nba.processor("XYZ").is_err());
    assert_eq!(
        nba.processor_list("MLFS, PDC,PDC").unwrap(),
        vec![pdc, mlfs]
    );
    assert!(nba.processor_list(" , ").is_err());
}

#[test]
fn downstream_follows_the_dag() {
    let nba = nba();
    let [psza, pdc, pcf, mlfs] = Builtin::ALL.map(|b| id_of(&nba, b));
    assert_eq!(nba.downstream(pdc), vec![pcf, mlfs]);
    assert_eq!(nba.downstream(pcf), vec![mlfs]);
    assert!(nba.downstream(mlfs).is_empty());
    assert_eq!(nba.upstreams(mlfs), vec![psza, pdc, pcf]);
    assert_eq!(nba.upstreams(pcf), vec![psza, pdc]);
    assert!(nba.upstreams(pdc).is_empty() && nba.upstreams(psza).is_empty());
    assert_eq!(nba.with_downstream(&[psza]), vec![psza, pcf, mlfs]);
}

#[test]
fn two_pipelines_live_side_by_side() {
    // One process, two pipelines: ids mean something only through their own.
    let nba = nba();
    let orders =
        Pipeline::parse(include_str!("../../../../pipelines/orders/pipeline.toml")).unwrap();
    assert_eq!(nba.code(nba.processor("PDC").unwrap()), "PDC");
    assert!(orders.processor("PDC").is_err());
    assert!(nba.builtin(Builtin::Pdc).is_some() && orders.builtin(Builtin::Pdc).is_none());
}

/// The in-place example: a team's tables mapped, its spellings declared,
/// its backfill program behind the re-run button.
const IN_PLACE: &str = include_str!("../../../../pipelines/nba-in-place/pipeline.toml");

#[test]
fn a_teams_tables_spellings_and_program_are_read_from_the_file() {
    let p = Pipeline::parse(IN_PLACE).unwrap();
    let f = p.read.failures.as_ref().unwrap();
    assert_eq!(
        (f.table.as_str(), f.entity.as_str(), f.upstream.as_deref()),
        ("nba_processing.precompute_failures", "entity_id", None)
    );
    let r = p.read.runs.as_ref().unwrap();
    assert!(
        matches!(&r.outcome, RunOutcome::Status { failure, .. } if failure == &["failed", "partial"])
    );
    assert_eq!(
        p.categories.read("circuit_breaker_active"),
        ("CIRCUIT_BREAKER_ACTIVE".into(), true)
    );
    let pdc = p.spec(p.processor("PDC").unwrap());
    let rerun = pdc.runner.rerun().unwrap();
    assert_eq!((rerun.batch_dates, rerun.timeout_seconds), (14, 600));
    assert!(pdc.runner.runs_here() && !pdc.runner.writes_table());
    let mapped: Vec<&str> = p.mapped_columns().iter().map(|m| m.column).collect();
    assert!(
        mapped.contains(&"data_date") && mapped.contains(&"status"),
        "{mapped:?}"
    );
}

#[test]
fn a_teams_mapping_spelling_or_program_that_cannot_work_is_refused_at_its_line() {
    for (old, new, needle, said) in [
        (
            r#"table = "nba_processing.precompute_failures""#,
            r#"table = "rollcall_own.failures""#,
            "table = \"rollcall_own.failures\"",
            "Rollcall never writes a table it only reads",
        ),
        (
            r#"entity = "entity_id""#,
            r#"entity = "entity id""#,
            "entity id",
            "not an identifier",
        ),
        (
            r#"filter = "resolution_status IS NULL OR resolution_status <> 'RESOLVED'""#,
            r#"filter = "1 = 1; DROP TABLE x""#,
            "DROP TABLE",
            "`filter` must be one SQL condition",
        ),
        (
            r#"filter = "resolution_status IS NULL OR resolution_status <> 'RESOLVED'""#,
            r#"filter = "x = '\\'')) AS p; DELETE FROM d.t WHERE TRUE; SELECT 1 --'""#,
            "DELETE FROM",
            "no backslash",
        ),
        (
            r#"success_values = ["success"]"#,
            r#"success_values = ["it's"]"#,
            "it's",
            "success_values",
        ),
        (
            r#"failure_values = ["failed", "partial"]"#,
            "",
            "status = \"status\"",
            "needs success_values and failure_values",
        ),
        (
            r#"status = "status""#,
            r#"status = "status"
succeeded = "ok""#,
            "status = \"status\"",
            "not both",
        ),
        (
            r#"EXPECTED_INCOMPLETE = "expected""#,
            r#"PROCESSING_ERROR = "expected""#,
            "PROCESSING_ERROR",
            "meaning is fixed",
        ),
        (
            r#"EXPECTED_INCOMPLETE = "expected""#,
            r#"EXPECTED_INCOMPLETE = "sometimes""#,
            "sometimes",
            "\"expected\", \"investigate\"",
        ),
        (
            r#""--end-date", "{end}"]"#,
            r#""--end-date", "{finish}"]"#,
            "{finish}",
            "the placeholders are {start}, {end}, {dates}",
        ),
        (
            "rerun_batch_days = 14",
            "rerun_batch_days = 400",
            "rerun_batch_days",
            "from 1 to 366",
        ),
        (
            r#"rerun = ["python3", "pdc_backfill.py", "--start-date", "{start}", "--end-date", "{end}"]"#,
            "",
            "timeout_seconds",
            "`timeout_seconds` is only for runs = \"command\"",
        ),
    ] {
        assert!(IN_PLACE.contains(old), "{old}");
        let text = IN_PLACE.replacen(old, new, 1);
        let e = refused(&text);
        assert!(e.message.contains(said), "{new}: {e:?}");
        assert_eq!(e.line, line_of(&text, needle), "{new}: {e:?}");
    }
    let text = IN_PLACE
        .replacen(r#"rerun = ["python3", "pdc_backfill.py", "--start-date", "{start}", "--end-date", "{end}"]"#, "", 1)
        .replacen("timeout_seconds = 600", "", 1);
    let e = refused(&text);
    assert!(e.message.contains("needs `rerun"), "{e:?}");
    assert_eq!(e.line, line_of(&text, "rerun_batch_days"));
    // `rerun` is only for an observed processor.
    let text = with(
        "min_games = 3\nruns = \"builtin\"",
        "min_games = 3\nruns = \"builtin\"\nrerun = [\"x\"]",
    );
    let e = refused(&text);
    assert!(
        e.message.contains("`rerun` is for an observed processor"),
        "{e:?}"
    );
}
