//! A snapshot as one HTML file (issue [O] 3, `rollcall snapshot --out` and
//! `/s/{id}/report.html`): inline styles, the heatmap as inline SVG (the
//! `/report.svg` drawing), the summary, and each not-OK cell's unaccounted
//! list in a collapsible section. It opens from a mail attachment with no
//! server, no network and no script.

use std::fmt::Write as _;

use domain::pipeline::Pipeline;
use domain::report::{Frozen, SnapshotMeta};

use crate::error::ServerError;
use crate::feed_pages::{attribute, escape, minutes};

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}\
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.2rem .5rem}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#b00020;font-weight:600}\
.banner{background:#f3f6fb;border:1px solid #c9d6ea;padding:.6rem .8rem}\
details{margin:.2rem 0}summary{cursor:pointer}svg{max-width:100%;height:auto}";

/// The file's text.
pub fn render(
    pipeline: &Pipeline,
    meta: &SnapshotMeta,
    frozen: &Frozen,
    link: &str,
) -> Result<String, ServerError> {
    let rec = &frozen.reconciliation;
    let svg = crate::report::svg(pipeline, rec)?;
    let headline = domain::report::unaccounted_headline(
        &pipeline.universe,
        rec.unaccounted(),
        rec.unaccounted_not_run(),
    );
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Rollcall snapshot {start} – {end}</title><style>{STYLE}</style></head><body>\
         <h1>Rollcall snapshot {start} – {end}</h1>\
         <p class=\"banner\" role=\"status\">As of {at} UTC by {by}{note}. Online, with drill-downs and a \
         comparison with now: <a href=\"{link_attr}\">{link}</a></p>\
         <p><strong>{headline}</strong></p><figure aria-label=\"Coverage heatmap\">{svg}</figure>",
        start = meta.start,
        end = meta.end,
        at = minutes(meta.taken_at),
        by = escape(&meta.taken_by),
        note = if meta.note.is_empty() {
            String::new()
        } else {
            format!(" — “{}”", escape(&meta.note))
        },
        link_attr = attribute(link),
        link = escape(link),
        headline = escape(&headline),
    );
    out.push_str(
        "<h2>Summary</h2><table aria-label=\"Reconciliation summary\"><thead><tr><th>Processor</th>\
         <th>Expected</th><th>Has Record</th><th>Has Failure</th><th>Unaccounted</th>\
         <th>Acknowledged</th><th>Investigate</th><th>Coverage</th></tr></thead><tbody>",
    );
    for p in &rec.processors {
        let t = rec.totals(*p);
        let bad = |n: i64| if n > 0 { "n bad" } else { "n" };
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{code}</th><td class=\"n\">{e}</td><td class=\"n\">{r}</td>\
             <td class=\"n\">{f}</td><td class=\"{ub}\">{u}</td><td class=\"n\">{a}</td>\
             <td class=\"{ib}\">{i}</td><td class=\"n\">{cov}</td></tr>",
            code = escape(pipeline.code(*p)),
            e = t.expected,
            r = t.has_record,
            f = t.has_failure,
            ub = bad(t.unaccounted),
            u = t.unaccounted,
            a = t.acknowledged,
            ib = bad(t.investigate),
            i = t.investigate,
            cov = domain::display::percent(t.coverage),
        );
    }
    out.push_str("</tbody></table><h2>Cells that are not OK</h2>");
    if frozen.details.is_empty() {
        out.push_str("<p>None: every cell is OK.</p>");
    }
    for d in &frozen.details {
        let Some(c) = frozen.cell(d.processor, d.date) else {
            continue;
        };
        let shown = d.unaccounted.items.len();
        let kept = if (shown as i64) < d.unaccounted.total {
            format!(", the first {shown} listed")
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<details><summary>{code} {date} — {status}: {u} unaccounted{kept}, {f} with a failure, \
             {i} to investigate</summary>",
            code = escape(pipeline.code(d.processor)),
            date = d.date,
            status = c.status().code(),
            u = c.unaccounted,
            f = c.has_failure,
            i = c.investigate,
        );
        if c.status() == domain::report::CellStatus::NotRun {
            out.push_str("<p>Never run: everyone expected is unaccounted.</p>");
        }
        if shown > 0 {
            let names: Vec<String> = d.unaccounted.items.iter().map(|n| escape(n)).collect();
            let _ = write!(
                out,
                "<p aria-label=\"Unaccounted {}\">{}</p>",
                escape(&pipeline.universe.entities()),
                names.join(", ")
            );
        }
        out.push_str("</details>");
    }
    out.push_str("</body></html>");
    Ok(out)
}
