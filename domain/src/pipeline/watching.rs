//! The parts of a pipeline file about watching it (issue [M]): `[watch]`,
//! `[[alert]]`, and a processor's `expected_by` and `lag_days`.

use serde::Deserialize;
use toml::Spanned;

use super::file::Source;
use crate::watch::{AlertOn, AlertSpec, Channel, Deadline, WatchSettings};
use crate::DomainError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WatchForm {
    #[serde(default)]
    window_days: Option<Spanned<u32>>,
    #[serde(default)]
    every: Option<Spanned<String>>,
    #[serde(default)]
    timezone: Option<Spanned<String>>,
    #[serde(default)]
    retention_days: Option<Spanned<u32>>,
    #[serde(default)]
    auto_rerun: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertForm {
    channel: Channel,
    url_env: Spanned<String>,
    #[serde(default)]
    secret_env: Option<Spanned<String>>,
    #[serde(default)]
    on: Option<Spanned<Vec<AlertOn>>>,
}

/// `[watch]`, with its defaults for what it leaves out.
pub(super) fn watch_of(
    src: &Source,
    form: Option<&WatchForm>,
) -> Result<Option<WatchSettings>, DomainError> {
    let Some(w) = form else {
        return Ok(None);
    };
    let mut settings = WatchSettings {
        auto_rerun: w.auto_rerun,
        ..WatchSettings::default()
    };
    if let Some(days) = &w.window_days {
        if !(1..=366).contains(days.get_ref()) {
            return Err(src.err(days.span(), "window_days: 1 to 366".into()));
        }
        settings.window_days = *days.get_ref();
    }
    if let Some(every) = &w.every {
        settings.every_secs = parse_every(every.get_ref())
            .ok_or_else(|| {
                src.err(
                    every.span(),
                    format!(
                        "every = {:?}: a duration such as \"15m\", \"1h\" or \"1d\", from 1 minute to 7 days",
                        every.get_ref()
                    ),
                )
            })?;
    }
    if let Some(days) = &w.retention_days {
        if !(1..=3650).contains(days.get_ref()) {
            return Err(src.err(days.span(), "retention_days: 1 to 3650".into()));
        }
        settings.retention_days = *days.get_ref();
    }
    if let Some(zone) = &w.timezone {
        let name = zone.get_ref();
        // The engine looks the name up in the tz database; here only its shape.
        let plausible = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with('/')
            && !name.split('/').any(|part| part == ".." || part.is_empty())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
        if !plausible {
            return Err(src.err(
                zone.span(),
                format!("timezone = {name:?}: \"UTC\" or a tz database name such as \"America/New_York\""),
            ));
        }
        settings.timezone = name.clone();
    }
    Ok(Some(settings))
}

/// `15m`, `1h`, `2d`, `90s`: seconds, from a minute to a week.
pub fn parse_every(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let secs = n.checked_mul(match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    })?;
    (60..=7 * 86_400).contains(&secs).then_some(secs)
}

/// An environment variable's name: what `url_env` and `secret_env` hold.
fn env_name(src: &Source, key: &str, s: &Spanned<String>) -> Result<String, DomainError> {
    let name = s.get_ref();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(src.err(
            s.span(),
            format!(
                "{key} = {name:?}: the name of an environment variable (A-Z, 0-9, _) that holds it, \
                 never the value itself"
            ),
        ));
    }
    Ok(name.clone())
}

/// `[[alert]]` tables.
pub(super) fn alerts_of(src: &Source, forms: &[AlertForm]) -> Result<Vec<AlertSpec>, DomainError> {
    let mut out = Vec::new();
    for a in forms {
        let url_env = env_name(src, "url_env", &a.url_env)?;
        let secret_env =
            match &a.secret_env {
                Some(s) if a.channel != Channel::Webhook => return Err(src.err(
                    s.span(),
                    "secret_env signs the generic webhook's body: only for channel = \"webhook\""
                        .into(),
                )),
                Some(s) => Some(env_name(src, "secret_env", s)?),
                None => None,
            };
        let mut on = match &a.on {
            Some(on) if on.get_ref().is_empty() => {
                return Err(src.err(
                    on.span(),
                    "on = []: name at least one of \"unaccounted\", \"investigate\", \"late\""
                        .into(),
                ))
            }
            Some(on) => on.get_ref().clone(),
            None => vec![AlertOn::Unaccounted, AlertOn::Investigate, AlertOn::Late],
        };
        on.sort();
        on.dedup();
        let spec = AlertSpec {
            channel: a.channel,
            url_env,
            secret_env,
            on,
        };
        if out.iter().any(|o: &AlertSpec| o.label() == spec.label()) {
            return Err(src.err(
                a.url_env.span(),
                format!(
                    "a second [[alert]] to {}: one per channel and URL",
                    spec.label()
                ),
            ));
        }
        out.push(spec);
    }
    Ok(out)
}

/// A processor's `expected_by = "HH:MM"` and `lag_days` (1 unless given).
pub(super) fn deadline_of(
    src: &Source,
    expected_by: Option<&Spanned<String>>,
    lag_days: Option<&Spanned<u32>>,
) -> Result<Option<Deadline>, DomainError> {
    let Some(by) = expected_by else {
        if let Some(lag) = lag_days {
            return Err(src.err(
                lag.span(),
                "lag_days moves the deadline of expected_by: declare expected_by = \"HH:MM\" too"
                    .into(),
            ));
        }
        return Ok(None);
    };
    let time = chrono::NaiveTime::parse_from_str(by.get_ref(), "%H:%M").map_err(|_| {
        src.err(
            by.span(),
            format!(
                "expected_by = {:?}: a time of day as \"HH:MM\"",
                by.get_ref()
            ),
        )
    })?;
    let lag = match lag_days {
        Some(l) if *l.get_ref() > 31 => return Err(src.err(l.span(), "lag_days: 0 to 31".into())),
        Some(l) => *l.get_ref(),
        None => 1,
    };
    Ok(Some(Deadline {
        expected_by: time,
        lag_days: lag,
    }))
}

#[cfg(test)]
mod tests {
    use super::parse_every;

    #[test]
    fn every_takes_a_number_and_a_unit_from_a_minute_to_a_week() {
        assert_eq!(parse_every("15m"), Some(900));
        assert_eq!(parse_every("1h"), Some(3600));
        assert_eq!(parse_every("7d"), Some(604_800));
        for bad in [
            "",
            "h",
            "30s",
            "8d",
            "1x",
            "-1h",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_every(bad), None, "{bad}");
        }
    }
}
