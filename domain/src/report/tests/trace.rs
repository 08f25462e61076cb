//! Traces: each link's state and the root cause of a missing record.

use chrono::NaiveDate;

use super::*;

#[test]
fn trace_state_prefers_record_then_failure_then_expectation() {
    let failure = |entity: &str| TraceFailure {
        entity_id: entity.into(),
        raw_category: "upstream-missing".into(),
        reason: "r".into(),
        upstream_processor: Some("PDC".into()),
        upstream_category: None,
    };
    assert_eq!(
        TraceState::of(&Default::default(), true, Some(failure("x")), true),
        TraceState::Record
    );
    assert_eq!(
        TraceState::of(
            &Default::default(),
            false,
            Some(failure(crate::processors::DATE_LEVEL)),
            true
        ),
        TraceState::DateLevel { reason: "r".into() }
    );
    match TraceState::of(&Default::default(), false, Some(failure("x")), true) {
        TraceState::Failure { code, expected, .. } => {
            assert_eq!((code.as_str(), expected), ("MISSING_UPSTREAM", true))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        TraceState::of(&Default::default(), false, None, true),
        TraceState::Unaccounted
    );
    assert_eq!(
        TraceState::of(&Default::default(), false, None, false),
        TraceState::NotExpected
    );
}

fn fail(up: Option<&str>) -> TraceState {
    TraceState::Failure {
        code: crate::FailureCategory::MissingUpstream.code().into(),
        expected: true,
        reason: String::new(),
        upstream_processor: up.map(String::from),
        upstream_category: None,
    }
}

#[test]
fn root_cause_is_the_first_failing_link() {
    let d = NaiveDate::from_ymd_opt(2021, 11, 10).unwrap();
    let trace = PlayerTrace {
        player_lookup: "p".into(),
        date: d,
        expected: true,
        links: vec![
            TraceLink {
                processor: crate::pipeline::shipped_id(Builtin::Psza),
                state: TraceState::Failure {
                    code: crate::FailureCategory::InsufficientData.code().into(),
                    expected: true,
                    reason: "4 games, need 10".into(),
                    upstream_processor: None,
                    upstream_category: None,
                },
                failed_run: None,
            },
            TraceLink {
                processor: crate::pipeline::shipped_id(Builtin::Pdc),
                state: TraceState::Record,
                failed_run: None,
            },
            TraceLink {
                processor: crate::pipeline::shipped_id(Builtin::Pcf),
                state: fail(Some("PSZA")),
                failed_run: None,
            },
            TraceLink {
                processor: crate::pipeline::shipped_id(Builtin::Mlfs),
                state: fail(Some("PCF")),
                failed_run: None,
            },
        ],
        recent_games: Vec::new(),
        explained: None,
    };
    assert_eq!(
        trace.root_cause(shipped()),
        Some(crate::pipeline::shipped_id(Builtin::Psza))
    );
    let ok = PlayerTrace {
        links: trace
            .links
            .iter()
            .map(|l| TraceLink {
                processor: l.processor,
                state: TraceState::Record,
                failed_run: None,
            })
            .collect(),
        ..trace.clone()
    };
    assert_eq!(ok.root_cause(shipped()), None);
    let mut unacc = ok.clone();
    unacc.links[2].state = TraceState::Unaccounted;
    unacc.links[3].state = fail(Some("PCF"));
    assert_eq!(
        unacc.root_cause(shipped()),
        Some(crate::pipeline::shipped_id(Builtin::Pcf))
    );
}

#[test]
fn each_link_is_explained_by_its_own_upstreams_only() {
    let [psza, pdc, pcf, mlfs] = Builtin::ALL.map(crate::pipeline::shipped_id);
    let insufficient = TraceState::Failure {
        code: crate::FailureCategory::InsufficientData.code().into(),
        expected: true,
        reason: "4 games, need 10".into(),
        upstream_processor: None,
        upstream_category: None,
    };
    let trace = |states: [TraceState; 4]| PlayerTrace {
        player_lookup: "brandonsmartjr".into(),
        date: NaiveDate::from_ymd_opt(2021, 11, 1).unwrap(),
        expected: true,
        links: [psza, pdc, pcf, mlfs]
            .into_iter()
            .zip(states)
            .map(|(processor, state)| TraceLink {
                processor,
                state,
                failed_run: None,
            })
            .collect(),
        recent_games: Vec::new(),
        explained: None,
    };
    // PSZA's expected failure does not explain PDC's silent drop: PDC does
    // not read PSZA. PDC is its own root, to investigate.
    let t = trace([
        insufficient.clone(),
        TraceState::Unaccounted,
        TraceState::Unaccounted,
        TraceState::Unaccounted,
    ]);
    assert_eq!(t.root_cause(shipped()), Some(pdc));
    assert!(t.root_needs_investigation(shipped()));
    assert_eq!(t.root_of(shipped(), &t.links[1]), Some(pdc));
    // Every link accounted for on its own: no root cause.
    let t = trace([
        insufficient.clone(),
        TraceState::Record,
        TraceState::Record,
        TraceState::Record,
    ]);
    assert_eq!(t.root_cause(shipped()), None);
    assert!(!t.root_needs_investigation(shipped()));
    // A failure naming a processor it does not depend on is its own root.
    let t = trace([
        insufficient.clone(),
        fail(Some("PSZA")),
        TraceState::Record,
        TraceState::Record,
    ]);
    assert_eq!(t.root_of(shipped(), &t.links[1]), Some(pdc));
    // A chain along the DAG: the first link, an expected gap.
    let t = trace([
        insufficient,
        TraceState::Record,
        fail(Some("PSZA")),
        fail(Some("PCF")),
    ]);
    assert_eq!(t.root_of(shipped(), &t.links[3]), Some(psza));
    assert_eq!(t.root_cause(shipped()), Some(psza));
    assert!(!t.root_needs_investigation(shipped()));
    // A named upstream that has its record explains nothing.
    let t = trace([
        TraceState::Record,
        TraceState::Record,
        fail(Some("PSZA")),
        TraceState::Record,
    ]);
    assert_eq!(t.root_of(shipped(), &t.links[2]), Some(pcf));
}
