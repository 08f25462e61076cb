//! One heatmap cell as markup: its marks, its tooltip, and the row and cell
//! markup the grids' bodies are written from.

use std::fmt::Write;

use domain::report::{CellCounts, CellStatus};
use domain::ProcessorId;

use super::markup::{attr, text};
use crate::palette::coverage_colour;

/// The marks drawn in a cell, in a fixed order (also used by the legend).
pub(super) fn marks(c: &CellCounts) -> String {
    let mut m = String::new();
    match c.status() {
        CellStatus::RunFailed => m.push('✗'),
        CellStatus::NotRun => m.push('∅'),
        CellStatus::Investigate => m.push('!'),
        CellStatus::DepsMissing => m.push('D'),
        CellStatus::Acknowledged => m.push('◇'),
        _ => {}
    }
    if c.investigate > 0 && c.status() != CellStatus::Investigate {
        m.push('!');
    }
    if c.conflict > 0 {
        m.push('≠');
    }
    if c.cascade > 0 {
        m.push('↯');
    }
    m
}

pub(super) fn tooltip(c: &CellCounts) -> String {
    // A failed latest run leads: the counts below it are an older run's.
    let failed = c
        .failed_run()
        .map(|r| {
            let older = if c.serves_older_run() {
                " (rows shown are from an earlier run)"
            } else {
                ""
            };
            format!("; {}{older}", r.failure_summary())
        })
        .unwrap_or_default();
    format!(
        "{} {} — {}: expected {}, record {}, failure {}{}, unaccounted {}, acknowledged {}, investigate {}, conflict {}, cascade {}, coverage {}{failed}",
        crate::code(c.processor),
        c.date,
        c.status().code(),
        c.expected,
        c.has_record,
        c.has_failure,
        if c.date_level { " (date-level)" } else { "" },
        c.unaccounted,
        c.acknowledged,
        c.investigate,
        c.conflict,
        c.cascade,
        domain::display::percent(c.coverage())
    )
}

/// What one heatmap cell links to and says.
pub(super) struct CellLink<'a> {
    pub(super) status: CellStatus,
    pub(super) selected: bool,
    pub(super) coverage: f64,
    /// The cell's data attribute: `data-cell` (a day) or `data-column`.
    pub(super) data: (&'static str, &'a str),
    pub(super) href: &'a str,
    pub(super) label: &'a str,
    pub(super) mark: &'a str,
}

// The grids' bodies are markup written as one string (escaped here):
// hydration takes it as it is instead of walking three nodes per cell, and
// the links and the delegated click handler work on it all the same.

pub(super) fn write_row_header(out: &mut String, p: ProcessorId) {
    let _ = write!(
        out,
        r#"<tr><th scope="row" class="rc-heatmap-proc" title="{}">{}</th>"#,
        attr(crate::spec(p).name.as_str()),
        text(crate::code(p))
    );
}

/// A cell where nobody is expected; `what` names it (`PDC 2021-11-10`).
pub(super) fn write_empty_cell(out: &mut String, what: &str) {
    let title = format!("{what}: {}", crate::pipeline().universe.nothing_expected());
    let _ = write!(
        out,
        r#"<td class="rc-cell rc-cell-nogames" title="{}"></td>"#,
        attr(&title)
    );
}

pub(super) fn write_cell(out: &mut String, c: &CellLink<'_>) {
    let _ = write!(
        out,
        r#"<td class="rc-cell rc-status-{}{}" style="background:{}" {}="{}" data-status="{}"><a href="{}" title="{}" aria-label="{}">{}</a></td>"#,
        c.status.code().to_ascii_lowercase(),
        if c.selected { " rc-cell-selected" } else { "" },
        coverage_colour(c.coverage),
        c.data.0,
        attr(c.data.1),
        c.status.code(),
        attr(c.href),
        attr(c.label),
        attr(c.label),
        text(c.mark)
    );
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    /// The body is written as markup: anything a pipeline file or a link
    /// puts in it arrives as text, never as markup.
    #[test]
    fn cell_markup_escapes_what_it_is_handed() {
        let hostile = r#"x" onmouseover="alert(1)<img src=x onerror=alert(2)>"#;
        let mut out = String::new();
        write_cell(
            &mut out,
            &CellLink {
                status: CellStatus::Untracked,
                selected: true,
                coverage: 0.5,
                data: ("data-cell", hostile),
                href: &format!("/?start=2021-11-01&cell={hostile}"),
                label: hostile,
                mark: "<b>!</b>",
            },
        );
        write_empty_cell(&mut out, hostile);
        assert!(!out.contains("<img") && !out.contains("<b>"), "{out}");
        assert!(!out.contains(r#"x" onmouseover"#), "{out}");
        assert!(out.contains("&lt;img src=x onerror=alert(2)&gt;"), "{out}");
        assert!(out.contains("&amp;cell="), "{out}");
        assert!(out.contains("&lt;b&gt;!&lt;/b&gt;</a></td>"), "{out}");
        // One link, two cells, the selected one marked.
        assert_eq!(out.matches("<a ").count(), 1);
        assert_eq!(out.matches("<td ").count(), 2);
        assert!(out.contains(r#"class="rc-cell rc-status-untracked rc-cell-selected""#));
    }

    /// Issue [Q] 1: a failed latest run has a mark of its own and its
    /// tooltip says when and why, and that the rows are an earlier run's.
    #[test]
    fn a_failed_run_is_marked_and_explained() {
        let mut c = CellCounts {
            processor: crate::pipeline().builtin(domain::Builtin::Pdc).unwrap(),
            date: NaiveDate::from_ymd_opt(2021, 11, 10).unwrap(),
            expected: 10,
            has_record: 4,
            has_failure: 0,
            date_level: false,
            unaccounted: 6,
            acknowledged: 0,
            investigate: 0,
            runs: 2,
            conflict: 0,
            extra: 0,
            cascade: 0,
            failures_by_category: Default::default(),
            last_run: None,
        };
        assert_eq!(marks(&c), "");
        assert!(!tooltip(&c).contains("failed"));
        c.last_run = Some(domain::report::LastRun {
            run_id: "r2".into(),
            status: domain::report::RunStatus::Failed,
            started_at: NaiveDate::from_ymd_opt(2021, 11, 16)
                .unwrap()
                .and_hms_opt(9, 12, 0),
            error: Some("exited with exit status: 3; stderr: KeyError: 'minutes'".into()),
        });
        assert_eq!(marks(&c), "✗");
        let tip = tooltip(&c);
        assert!(tip.contains("RUN_FAILED"), "{tip}");
        assert!(
            tip.contains("latest run r2 failed at 2021-11-16 09:12:00"),
            "{tip}"
        );
        assert!(tip.contains("KeyError"), "{tip}");
        assert!(tip.contains("rows shown are from an earlier run"), "{tip}");
    }
}
