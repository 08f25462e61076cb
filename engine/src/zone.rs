//! The watch's time zone: deadlines are local times (`[watch] timezone`),
//! looked up in the system's tz database (Debian's `tzdata`).

use chrono::NaiveDateTime;
use domain::DomainError;

use crate::EngineError;

pub struct Zone {
    zone: Option<tz::TimeZone>,
}

impl Zone {
    /// `UTC`, or a tz database name (`America/New_York`).
    pub fn named(name: &str) -> Result<Self, EngineError> {
        if name.eq_ignore_ascii_case("UTC") {
            return Ok(Self { zone: None });
        }
        // A name the pipeline file checked the shape of; `:` makes the
        // library read it as a file of the tz database, never a rule.
        let zone = tz::TimeZone::from_posix_tz(&format!(":{name}")).map_err(|e| {
            EngineError::from(DomainError::BadParameter {
                name: "timezone",
                message: format!(
                    "{name:?} is not in this machine's tz database ({e}); install tzdata or use \"UTC\""
                ),
            })
        })?;
        Ok(Self { zone: Some(zone) })
    }

    /// The local wall-clock time at `utc`.
    pub fn local(&self, utc: NaiveDateTime) -> NaiveDateTime {
        let Some(zone) = &self.zone else {
            return utc;
        };
        let offset = zone
            .find_local_time_type(utc.and_utc().timestamp())
            .map_or(0, |t| t.ut_offset());
        utc + chrono::Duration::seconds(i64::from(offset))
    }
}
