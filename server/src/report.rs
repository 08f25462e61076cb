//! Shareable exports of the coverage view: `/report.csv` (the grid, or the
//! unaccounted players with `kind=unaccounted`) and `/report.png` / `.svg`
//! (the heatmap drawn with plotters, also the page's og:image).

use domain::pipeline::Pipeline;
use std::sync::Once;

use app::palette::coverage_rgb;
use domain::report::{CellStatus, Reconciliation};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::ServerError;

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 630;

/// A text field as a spreadsheet should take it: one starting with `=`,
/// `+`, `-`, `@` (or a tab or carriage return) would be read as a formula,
/// so it gets a leading `'` (OWASP's advice for CSV injection). Entity ids
/// come from the team's data, not from Rollcall.
pub fn spreadsheet_safe(field: &str) -> std::borrow::Cow<'_, str> {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{field}"))
    } else {
        std::borrow::Cow::Borrowed(field)
    }
}

pub fn unaccounted_csv(
    pipeline: &Pipeline,
    rows: &[(domain::ProcessorId, chrono::NaiveDate, String)],
) -> Result<String, ServerError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let entity = &pipeline.universe.entity_column;
    w.write_record(["processor", "date", entity.as_str()])?;
    for (p, d, player) in rows {
        w.write_record([pipeline.code(*p), &d.to_string(), &spreadsheet_safe(player)])?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ServerError::Csv(e.into_error().into()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The picture's short headline, in the pipeline's words: unaccounted in
/// cells that ran apart from those in cells never run.
fn png_headline(pipeline: &Pipeline, rec: &Reconciliation) -> String {
    let u = &pipeline.universe;
    let not_run = rec.unaccounted_not_run();
    let ran = rec.unaccounted() - not_run;
    match (ran, not_run) {
        (0, 0) => format!("all {} accounted for", u.entities()),
        (_, 0) => format!("{} unaccounted for", u.count(ran)),
        _ => format!(
            "{} unaccounted for (+{not_run} in cells never run)",
            u.count(ran)
        ),
    }
}

fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        // The font ships inside the binary: no system fonts needed.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    pipeline: &Pipeline,
    rec: &Reconciliation,
) -> Result<(), ServerError>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| ServerError::Draw(e.to_string());
    root.fill(&WHITE).map_err(err)?;
    let title = format!(
        "Rollcall coverage {} – {}: {}",
        rec.range.start(),
        rec.range.end(),
        png_headline(pipeline, rec)
    );
    root.draw(&Text::new(
        title,
        (30, 24),
        ("sans-serif", 26).into_font().style(FontStyle::Bold),
    ))
    .map_err(err)?;
    let dates: Vec<_> = rec.range.iter().collect();
    let rows = rec.processors.len().max(1);
    let (left, top, right, bottom) = (90i32, 80i32, 30i32, 110i32);
    let grid_w = WIDTH as i32 - left - right;
    let grid_h = HEIGHT as i32 - top - bottom;
    let cw = grid_w as f64 / dates.len().max(1) as f64;
    let ch = grid_h as f64 / rows as f64;
    let grey = RGBColor(235, 235, 235);
    for (r, p) in rec.processors.iter().enumerate() {
        let y0 = top + (r as f64 * ch) as i32;
        let y1 = top + ((r + 1) as f64 * ch) as i32 - 2;
        root.draw(&Text::new(
            pipeline.code(*p),
            (20, y0 + (ch / 2.0) as i32 - 8),
            ("sans-serif", 18).into_font(),
        ))
        .map_err(err)?;
        for (i, d) in dates.iter().enumerate() {
            let x0 = left + (i as f64 * cw) as i32;
            let x1 = left + ((i + 1) as f64 * cw) as i32 - if cw > 3.0 { 1 } else { 0 };
            let cell = rec.cells.iter().find(|c| c.processor == *p && c.date == *d);
            let colour = match cell {
                None => grey,
                Some(c) if c.status() == CellStatus::NotRun => RGBColor(160, 160, 160),
                Some(c) => {
                    let (r, g, b) = coverage_rgb(c.coverage());
                    RGBColor(r, g, b)
                }
            };
            root.draw(&Rectangle::new([(x0, y0), (x1, y1)], colour.filled()))
                .map_err(err)?;
            if let Some(c) = cell {
                if matches!(c.status(), CellStatus::Investigate) || c.investigate > 0 {
                    root.draw(&Rectangle::new([(x0, y0), (x1, y0 + 6)], BLACK.filled()))
                        .map_err(err)?;
                }
            }
        }
    }
    // Month labels under the grid.
    let mut last_month = None;
    for (i, d) in dates.iter().enumerate() {
        let m = domain::display::month_year(*d);
        if last_month.as_ref() != Some(&m) {
            let x = left + (i as f64 * cw) as i32;
            root.draw(&Text::new(
                m.clone(),
                (x, top + grid_h + 8),
                ("sans-serif", 14).into_font(),
            ))
            .map_err(err)?;
            last_month = Some(m);
        }
    }
    // Legend.
    let ly = HEIGHT as i32 - 50;
    let mut x = left;
    for (cov, label) in [
        (0.0, "0%"),
        (0.5, "50%"),
        (0.9, "90%"),
        (1.0, "100% covered"),
    ] {
        let (r, g, b) = coverage_rgb(cov);
        root.draw(&Rectangle::new(
            [(x, ly), (x + 18, ly + 18)],
            RGBColor(r, g, b).filled(),
        ))
        .map_err(err)?;
        root.draw(&Text::new(
            label,
            (x + 24, ly + 1),
            ("sans-serif", 15).into_font(),
        ))
        .map_err(err)?;
        x += 130;
    }
    root.draw(&Rectangle::new(
        [(x, ly), (x + 18, ly + 18)],
        RGBColor(160, 160, 160).filled(),
    ))
    .map_err(err)?;
    root.draw(&Text::new(
        "not run",
        (x + 24, ly + 1),
        ("sans-serif", 15).into_font(),
    ))
    .map_err(err)?;
    x += 110;
    root.draw(&Rectangle::new([(x, ly), (x + 18, ly + 6)], BLACK.filled()))
        .map_err(err)?;
    root.draw(&Text::new(
        "investigate",
        (x + 24, ly + 1),
        ("sans-serif", 15).into_font(),
    ))
    .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

pub fn svg(pipeline: &Pipeline, rec: &Reconciliation) -> Result<String, ServerError> {
    register_fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(root, pipeline, rec)?;
    }
    Ok(out)
}

pub fn png(pipeline: &Pipeline, rec: &Reconciliation) -> Result<Vec<u8>, ServerError> {
    register_fonts();
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(root, pipeline, rec)?;
    }
    let img = image::RgbImage::from_raw(WIDTH, HEIGHT, rgb)
        .ok_or_else(|| ServerError::Encode("buffer size mismatch".into()))?;
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| ServerError::Encode(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_a_spreadsheet_would_run_get_a_quote() {
        for (field, safe) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("lebronjames", "lebronjames"),
            ("C0003", "C0003"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(field), safe);
        }
        let rows = vec![(
            domain::pipeline::nba().processor("PDC").unwrap(),
            chrono::NaiveDate::from_ymd_opt(2021, 11, 5).unwrap(),
            "=cmd|' /C calc'!A0".to_string(),
        )];
        let csv = unaccounted_csv(&domain::pipeline::nba(), &rows).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("processor,date,player_lookup"));
        assert_eq!(lines.next(), Some("PDC,2021-11-05,'=cmd|' /C calc'!A0"));
    }
}
