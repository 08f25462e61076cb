use super::*;
use crate::processor::{Builtin, ProcessorId, Runner};

#[test]
fn the_shipped_file_runs_the_four_builtins() {
    let nba = nba();
    assert_eq!(nba.universe.expected, crate::game::EXPECTED_PLAYER_SQL);
    let builtins: Vec<Option<Builtin>> =
        nba.processors.iter().map(|p| p.runner.builtin()).collect();
    assert_eq!(builtins, Builtin::ALL.map(Some));
    for p in &nba.processors {
        let needs: Vec<ProcessorId> = p
            .runner
            .builtin()
            .unwrap()
            .needs()
            .iter()
            .map(|b| id_of(&nba, *b))
            .collect();
        assert_eq!(p.depends_on, needs, "{}", p.code);
    }
    assert_eq!(nba.processors[0].min_games, 10);
}

#[test]
fn builtins_must_be_declared_as_they_are() {
    // Not a builtin's code.
    let text = with(r#"code = "PDC""#, r#"code = "PDX""#);
    let e = refused(&text);
    assert!(e.message.contains("no builtin"), "{e:?}");
    // A builtin's table is its own.
    let text = with(
        r#"output_table = "nba_precompute.player_daily_cache""#,
        r#"output_table = "nba_precompute.elsewhere""#,
    );
    let e = refused(&text);
    assert!(e.message.contains("player_daily_cache"), "{e:?}");
    // PCF reads PDC's records: it must depend on it.
    let text = with(
        r#"depends_on = ["PDC", "PSZA"]"#,
        r#"depends_on = ["PSZA"]"#,
    );
    let e = refused(&text);
    assert!(e.message.contains("reads PDC"), "{e:?}");
    // The same processors run as commands are fine.
    let text = NBA_PIPELINE.replace(
        r#"runs = "builtin""#,
        "runs = \"command\"\ncommand = [\"./run.sh\", \"--fast\"]",
    );
    let p = Pipeline::parse(&text).unwrap();
    assert!(p.processors.iter().all(|p| p.runner.builtin().is_none()));
    let c = p.processors[0].runner.command().unwrap();
    assert_eq!(
        (c.program.as_str(), c.args.as_slice()),
        ("./run.sh", &["--fast".to_string()][..])
    );
    assert_eq!(c.timeout_seconds, DEFAULT_COMMAND_TIMEOUT_SECONDS);
}

#[test]
fn a_page_gets_the_runner_kind_but_never_the_command_line() {
    let text = NBA_PIPELINE.replace(
        r#"runs = "builtin""#,
        "runs = \"command\"\ncommand = [\"./secret-tool\", \"--token=abc\"]",
    );
    let spec = &Pipeline::parse(&text).unwrap().processors[0];
    let sent = serde_json::to_string(spec).unwrap();
    assert!(
        !sent.contains("secret-tool") && !sent.contains("abc"),
        "{sent}"
    );
    let read: crate::ProcessorSpec = serde_json::from_str(&sent).unwrap();
    assert!(
        matches!(read.runner, Runner::Command(_)),
        "{:?}",
        read.runner
    );
    assert!(read.runner.runs_here());
}

#[test]
fn commands_declare_their_program_time_limit_and_columns() {
    let command = |extra: &str| {
        with(
                "runs = \"builtin\"\n\n[[processor]]\ncode = \"PCF\"",
                &format!("runs = \"builtin\"\n\n[[processor]]\ncode = \"REST\"\nname = \"Rest\"\n\
                 output_table = \"team.rest\"\ndate_column = \"rest_date\"\n\
                 entity_column = \"player_lookup\"\nruns = \"command\"\n{extra}\n\n[[processor]]\ncode = \"PCF\""),
            )
    };
    let ok = command(
            "command = [\"python3\", \"rest.py\"]\ntimeout_seconds = 30\n\
             columns = [{ name = \"rest_days\", type = \"int\" }, { name = \"note\", type = \"text\" }]",
        );
    let p = Pipeline::parse(&ok).unwrap();
    let rest = p.processors.iter().find(|p| p.code == "REST").unwrap();
    assert_eq!(rest.runner.command().unwrap().timeout_seconds, 30);
    assert_eq!(rest.runner.command().unwrap().batch_dates, 1);
    let batched = Pipeline::parse(&command("command = [\"x\"]\nbatch_dates = 7")).unwrap();
    let weekly = batched
        .processors
        .iter()
        .find(|p| p.code == "REST")
        .unwrap();
    assert_eq!(weekly.runner.command().unwrap().batch_dates, 7);
    let cols: Vec<(&str, ColumnType)> = rest
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty))
        .collect();
    assert_eq!(
        cols,
        vec![("rest_days", ColumnType::Int), ("note", ColumnType::Text)]
    );
    assert_eq!(
        p.processors
            .iter()
            .filter(|p| p.runner.command().is_some())
            .count(),
        1
    );

    for (extra, says, on) in [
            ("", "declare `command", "runs = \"command\""),
            ("command = []", "empty", "command = []"),
            ("command = [\"x\"]\ntimeout_seconds = 0", "from 1 to", "timeout_seconds"),
            ("command = [\"x\"]\nbatch_dates = 0", "from 1 to", "batch_dates"),
            ("command = [\"x\"]\nbatch_dates = 101", "from 1 to", "batch_dates"),
            (
                "command = [\"x\"]\ncolumns = [{ name = \"rest_date\", type = \"int\" }]",
                "date or entity column",
                "columns",
            ),
            (
                "command = [\"x\"]\ncolumns = [{ name = \"a\", type = \"int\" }, { name = \"A\", type = \"text\" }]",
                "twice",
                "columns",
            ),
            ("command = [\"x\"]\ncolumns = [{ name = \"a b\", type = \"int\" }]", "identifier", "columns"),
            ("command = [\"x\"]\ncolumns = [{ name = \"a\", type = \"blob\" }]", "blob", "columns"),
        ] {
            let text = command(extra);
            let e = refused(&text);
            assert!(e.message.contains(says), "{extra}: {e:?}");
            assert_eq!(e.line, line_of(&text, on), "{extra}: {e:?}");
        }
    // Only commands have a command line.
    let text = with("min_games = 3", "min_games = 3\ncommand = [\"x\"]");
    let e = refused(&text);
    assert!(e.message.contains("only for runs = \"command\""), "{e:?}");
    assert_eq!(e.line, line_of(&text, "command = "));
}

#[test]
fn a_pipeline_fits_the_reconciliation_mask() {
    let mut text = String::from(&NBA_PIPELINE[..NBA_PIPELINE.find("[[processor]]").unwrap()]);
    for i in 0..=MAX_PROCESSORS {
        text.push_str(&format!(
            "[[processor]]\ncode = \"P{i}\"\nname = \"proc{i}\"\noutput_table = \"d.t{i}\"\n\
                 date_column = \"d\"\nentity_column = \"e\"\nruns = \"observe\"\n"
        ));
    }
    let e = refused(&text);
    let one_too_many = format!("\"P{MAX_PROCESSORS}\"");
    assert_eq!(e.line, line_of(&text, &one_too_many), "{e:?}");
    let most = &text[..text
        .find(&format!("[[processor]]\ncode = {one_too_many}"))
        .unwrap()];
    let pipeline = Pipeline::parse(most).unwrap();
    assert_eq!(pipeline.processors.len(), MAX_PROCESSORS);
    let last = pipeline.processors.last().unwrap().id;
    assert!(crate::reconcile::mask::processor_bit(last) < 1 << 62);
}

const ORDERS_PIPELINE: &str = include_str!("../../../../pipelines/orders/pipeline.toml");

#[test]
fn the_orders_example_has_a_universe_of_its_own() {
    let p = Pipeline::parse(ORDERS_PIPELINE).unwrap();
    assert!(!p.universe.is_nba());
    assert_eq!(p.universe.demo, "orders.csv");
    assert_eq!(
        (p.universe.entity(), p.universe.entities()),
        ("customer", "customers".into())
    );
    assert_eq!(nba().universe.entities(), "players");
    let unnamed = ORDERS_PIPELINE.replace("entity_name = \"customer\"\n", "");
    let unnamed = Pipeline::parse(&unnamed).unwrap().universe;
    assert_eq!(
        (unnamed.entity(), unnamed.entities()),
        ("entity", "entities".into())
    );
    let shouting = ORDERS_PIPELINE.replace("\"customer\"", "\"<b>Customer</b>\"");
    assert_eq!(refused(&shouting).line, line_of(&shouting, "entity_name"));
    let columns: Vec<(&str, Option<ColumnType>)> = p.universe.all_columns();
    assert_eq!(
        columns,
        vec![
            ("customer_id", None),
            ("order_date", None),
            ("order_id", Some(ColumnType::Text)),
            ("amount", Some(ColumnType::Float)),
            ("status", Some(ColumnType::Text)),
        ]
    );
    assert!(p
        .processors
        .iter()
        .all(|s| matches!(s.runner, Runner::Command(_))));
    assert_eq!(p.processors[1].depends_on, vec![p.processors[0].id]);
    let view = p.default_view.unwrap();
    assert_eq!(
        (view.start().to_string(), view.end().to_string()),
        ("2024-03-01".into(), "2024-03-28".into())
    );
    for (old, new) in [
        ("start = \"2024-03-01\"", "start = \"March\""),
        ("start = \"2024-03-01\"", "start = \"2024-04-01\""),
    ] {
        let text = ORDERS_PIPELINE.replace(old, new);
        assert_eq!(refused(&text).line, line_of(&text, "start = "), "{new}");
    }

    // A row from text: typed, empty is NULL, errors name the column.
    let row = p
        .universe
        .row_from_text(&["C1", "2024-03-01", "O-1", "", "paid"])
        .unwrap();
    assert_eq!(row.date.to_string(), "2024-03-01");
    assert_eq!(
        row.values,
        vec![
            Value::Text("O-1".into()),
            Value::Null,
            Value::Text("paid".into())
        ]
    );
    for (fields, column) in [
        (["C1", "2024-13-01", "O-1", "1", "paid"], "order_date"),
        (["", "2024-03-01", "O-1", "1", "paid"], "customer_id"),
        (["C1", "2024-03-01", "O-1", "NaN", "paid"], "amount"),
        (["C1", "2024-03-01", "O-1", "1e999", "paid"], "amount"),
    ] {
        let (at, _) = p.universe.row_from_text(&fields).unwrap_err();
        assert_eq!(at, column, "{fields:?}");
    }
    assert!(p.universe.row_from_text(&["C1", "2024-03-01"]).is_err());
}

#[test]
fn builtins_need_the_nba_universe_and_it_has_its_own_schema() {
    // A builtin over another universe.
    let text = with(
        r#"table = "nba_analytics.player_game_summary""#,
        r#"table = "shop.orders""#,
    );
    let e = refused(&text);
    assert!(e.message.contains("run it as a command"), "{e:?}");
    assert_eq!(e.line, line_of(&text, "runs = \"builtin\""));
    // The box scores declare no columns or demo file, and their keys.
    for (old, new, says) in [
            (
                r#"entity_column = "player_lookup"
expected"#,
                "entity_column = \"player_lookup\"\ncolumns = [{ name = \"x\", type = \"int\" }]\nexpected",
                "declare none",
            ),
            (
                r#"entity_column = "player_lookup"
expected"#,
                "entity_column = \"player_lookup\"\ndemo = \"x.csv\"\nexpected",
                "generated season",
            ),
            (
                r#"date_column = "game_date"
entity"#,
                "date_column = \"day\"\nentity",
                "keyed by game_date",
            ),
        ] {
            let e = refused(&with(old, new));
            assert!(e.message.contains(says), "{new}: {e:?}");
        }
    // Another universe's demo file stays beside the pipeline file.
    for demo in ["../etc/passwd", "/etc/passwd", ""] {
        let text = ORDERS_PIPELINE.replace("demo = \"orders.csv\"", &format!("demo = {demo:?}"));
        let e = refused(&text);
        assert!(e.message.contains("relative path"), "{demo}: {e:?}");
        assert_eq!(e.line, line_of(&text, "demo = "));
    }
    // Its columns are identifiers, each once, never the key columns.
    let text = ORDERS_PIPELINE.replace(
        "{ name = \"status\", type = \"text\" }",
        "{ name = \"customer_id\", type = \"text\" }",
    );
    assert!(refused(&text).message.contains("entity column"));
}

mod refusals;

use refusals::{id_of, line_of, refused, with};

#[test]
fn watch_alerts_and_deadlines_are_read_with_their_defaults_and_refused_at_their_line() {
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/nba.toml"
    ))
    .unwrap();
    let with = |extra: &str| Pipeline::parse(&format!("{base}\n{extra}"));
    let p = with(
        "[watch]\nwindow_days = 7\nevery = \"15m\"\ntimezone = \"America/New_York\"\n\
         [[alert]]\nchannel = \"webhook\"\nurl_env = \"HOOK_URL\"\nsecret_env = \"HOOK_SECRET\"\non = [\"late\", \"unaccounted\"]\n\
         [[alert]]\nchannel = \"slack\"\nurl_env = \"SLACK_URL\"\n",
    )
    .unwrap();
    let w = p.watch.clone().unwrap();
    assert_eq!(
        (w.window_days, w.every_secs, w.timezone.as_str()),
        (7, 900, "America/New_York")
    );
    assert_eq!(p.alerts.len(), 2);
    assert_eq!(
        p.alerts[0].on,
        [
            crate::watch::AlertOn::Unaccounted,
            crate::watch::AlertOn::Late
        ]
    );
    assert_eq!(p.alerts[1].on.len(), 3, "all kinds unless told");
    assert!(Pipeline::parse(&base).unwrap().watch.is_none());
    // A processor's deadline.
    let lagged = base.replacen(
        "min_games = 3\n",
        "min_games = 3\nexpected_by = \"09:30\"\nlag_days = 2\n",
        1,
    );
    let p = Pipeline::parse(&lagged).unwrap();
    let pdc = p.processor("PDC").unwrap();
    let deadline = p.spec(pdc).deadline.unwrap();
    assert_eq!(
        (deadline.expected_by.to_string().as_str(), deadline.lag_days),
        ("09:30:00", 2)
    );
    for (extra, said) in [
        ("[watch]\nwindow_days = 0\n", "window_days"),
        ("[watch]\nevery = \"10s\"\n", "every"),
        ("[watch]\ntimezone = \"../etc/passwd\"\n", "timezone"),
        ("[[alert]]\nchannel = \"webhook\"\nurl_env = \"https://hooks.example/x\"\n", "url_env"),
        ("[[alert]]\nchannel = \"slack\"\nurl_env = \"S\"\nsecret_env = \"K\"\n", "secret_env"),
        ("[[alert]]\nchannel = \"webhook\"\nurl_env = \"H\"\non = []\n", "on = []"),
        ("[[alert]]\nchannel = \"pager\"\nurl_env = \"H\"\n", "pager"),
        ("[[alert]]\nchannel = \"slack\"\nurl_env = \"S\"\n[[alert]]\nchannel = \"slack\"\nurl_env = \"S\"\n", "a second"),
    ] {
        let e = with(extra).unwrap_err().to_string();
        assert!(e.contains(said) && e.contains("line"), "{extra}: {e}");
    }
    for (field, said) in [
        ("expected_by = \"25:00\"\n", "expected_by"),
        ("lag_days = 2\n", "lag_days"),
    ] {
        let text = base.replacen("min_games = 3\n", &format!("min_games = 3\n{field}"), 1);
        let e = Pipeline::parse(&text).unwrap_err().to_string();
        assert!(e.contains(said), "{field}: {e}");
    }
}
