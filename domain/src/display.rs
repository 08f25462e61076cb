//! How numbers, months and timestamps read on pages and in the CLI: one
//! spelling for both.
//!
//! These run in the browser too, so they stay off the formatting machinery
//! that would otherwise be in the bundle only for them: float formatting
//! (`{:.1}` links the exact-decimal algorithms) and chrono's strftime
//! interpreter (`format("%b %Y")`). The tests hold them equal to those.

use chrono::{Datelike, Month, NaiveDate, NaiveDateTime, Timelike};

/// `value` with `decimals` digits after the point (at most 6), rounded like
/// `format!("{value:.decimals$}")`: half to even.
pub fn fixed(value: f64, decimals: u32) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.into();
    }
    let decimals = decimals.min(6);
    let scale = 10u64.pow(decimals) as f64;
    let product = value * scale;
    let floor = product.floor();
    // The product may have landed on a half by rounding; its exact error
    // (fused multiply-add) says which way the true value lies.
    let rounded = if product - floor == 0.5 {
        match value.mul_add(scale, -product) {
            e if e > 0.0 => floor + 1.0,
            e if e < 0.0 => floor,
            _ => product.round_ties_even(),
        }
    } else {
        product.round()
    };
    // Past 2^64 there are no fractions left to show.
    let magnitude = rounded.abs().min(u64::MAX as f64) as u64;
    let scale = scale as u64;
    // A negative value keeps its sign even when it rounds to zero (`-0.0`).
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if decimals == 0 {
        return format!("{sign}{magnitude}");
    }
    format!(
        "{sign}{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = decimals as usize
    )
}

/// A fraction as a percentage with one decimal: `0.973` → `97.3%`.
pub fn percent(fraction: f64) -> String {
    format!("{}%", fixed(fraction * 100.0, 1))
}

/// The month's English name (`November`).
pub fn month_name(d: NaiveDate) -> &'static str {
    // `month()` is 1..=12, always a month.
    Month::try_from(d.month() as u8).map_or("", |m| m.name())
}

/// The month's first three letters (`Nov`), as `%b` spells it.
pub fn month_abbreviation(d: NaiveDate) -> &'static str {
    let name = month_name(d);
    name.get(..3).unwrap_or(name)
}

/// The month's short name and year (`Nov 2021`), as `%b %Y` spells it.
pub fn month_year(d: NaiveDate) -> String {
    format!("{} {}", month_abbreviation(d), d.year())
}

/// A timestamp to the second (`2021-11-10 14:03:59`; ours are UTC).
pub fn timestamp(t: NaiveDateTime) -> String {
    format!(
        "{} {:02}:{:02}:{:02}",
        t.date(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_rounds_like_the_formatter() {
        let mut values = vec![
            0.0, 0.05, 0.15, 0.25, 0.35, 0.45, 0.5, 1.5, 2.5, 12.5, 99.95, 99.949, 100.0, 1e9,
            -0.25, -1.5, -2.5, 0.125, 0.375, 33.333_333, 66.666_667, 1234.5678,
        ];
        // Every coverage a page shows for up to 400 expected players.
        for expected in 1..=400u32 {
            for covered in [0, 1, expected / 3, expected / 2, expected - 1, expected] {
                values.push(covered as f64 / expected as f64 * 100.0);
            }
        }
        for v in values {
            for d in 0..=3 {
                assert_eq!(
                    fixed(v, d),
                    format!("{v:.*}", d as usize),
                    "{v} to {d} places"
                );
            }
        }
        assert_eq!(fixed(f64::NAN, 1), format!("{:.1}", f64::NAN));
        assert_eq!(fixed(f64::INFINITY, 1), format!("{:.1}", f64::INFINITY));
        assert_eq!(
            fixed(f64::NEG_INFINITY, 0),
            format!("{:.0}", f64::NEG_INFINITY)
        );
        assert_eq!(percent(0.973), "97.3%");
    }

    #[test]
    fn months_and_timestamps_read_as_strftime_spells_them() {
        let mut d = NaiveDate::from_ymd_opt(2021, 1, 1).unwrap();
        for _ in 0..12 {
            assert_eq!(month_name(d), d.format("%B").to_string());
            assert_eq!(month_abbreviation(d), d.format("%b").to_string());
            assert_eq!(month_year(d), d.format("%b %Y").to_string());
            d = d.checked_add_months(chrono::Months::new(1)).unwrap();
        }
        let t = NaiveDate::from_ymd_opt(2021, 11, 10)
            .unwrap()
            .and_hms_milli_opt(4, 3, 9, 250)
            .unwrap();
        assert_eq!(timestamp(t), t.format("%Y-%m-%d %H:%M:%S").to_string());
    }
}
