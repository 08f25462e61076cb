//! Acknowledgements (issue [N] 1): a person says a gap is known — some
//! unaccounted entities of a cell, or the whole cell — with a reason, a
//! note, a ticket and an expiry. An acknowledged entity is still
//! unaccounted underneath: the reconciliation counts it apart
//! (`CellCounts::acknowledged`), never as accounted for. An
//! acknowledgement ends when it expires, is revoked, or the entity's state
//! changes (a later run records or fails it; for a whole cell, any later
//! run of it) — then the gap shows again.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::{DomainError, ProcessorId};

/// Why a gap is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckReason {
    /// The upstream never had them (a feed that misses two-way players).
    KnownUpstream,
    /// The data is past its retention.
    Retention,
    WontFix,
    /// Rollcall expects them, wrongly.
    FalsePositive,
    Other,
}

impl AckReason {
    pub const ALL: [AckReason; 5] = [
        AckReason::KnownUpstream,
        AckReason::Retention,
        AckReason::WontFix,
        AckReason::FalsePositive,
        AckReason::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AckReason::KnownUpstream => "known_upstream",
            AckReason::Retention => "retention",
            AckReason::WontFix => "wont_fix",
            AckReason::FalsePositive => "false_positive",
            AckReason::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        Self::ALL
            .into_iter()
            .find(|r| r.code().eq_ignore_ascii_case(raw))
            .ok_or_else(|| DomainError::BadParameter {
                name: "reason",
                message: format!(
                    "{:?} is not a reason (one of {})",
                    raw.chars().take(40).collect::<String>(),
                    Self::ALL.map(AckReason::code).join(", ")
                ),
            })
    }
}

/// How an acknowledgement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckEnd {
    Revoked,
    /// A later run recorded or failed the entity (ran the cell).
    StateChanged,
}

impl AckEnd {
    pub fn code(self) -> &'static str {
        match self {
            AckEnd::Revoked => "revoked",
            AckEnd::StateChanged => "state_changed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [AckEnd::Revoked, AckEnd::StateChanged]
            .into_iter()
            .find(|e| e.code() == raw)
    }
}

/// One acknowledgement: of one entity of a cell, or of the whole cell
/// (`entity: None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub id: String,
    pub processor: ProcessorId,
    pub date: NaiveDate,
    pub entity: Option<String>,
    pub reason: AckReason,
    pub note: String,
    pub ticket_url: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    pub ended_by: Option<String>,
    pub end: Option<AckEnd>,
}

impl Acknowledgement {
    /// In force at `now`: not ended, not expired.
    pub fn is_active(&self, now: NaiveDateTime) -> bool {
        self.ended_at.is_none() && self.expires_at > now
    }

    /// `active`, `expired`, `revoked` or `ended` (the state changed).
    pub fn state(&self, now: NaiveDateTime) -> &'static str {
        match self.end {
            Some(AckEnd::Revoked) => "revoked",
            Some(AckEnd::StateChanged) => "ended",
            None if self.expires_at <= now => "expired",
            None => "active",
        }
    }
}

/// The longest note kept.
pub const MAX_NOTE_CHARS: usize = 2000;
/// The longest ticket URL kept.
pub const MAX_TICKET_CHARS: usize = 500;
/// Entities one request acknowledges at most.
pub const MAX_ENTITIES: usize = 1000;
/// The default and longest expiry.
pub const DEFAULT_EXPIRY_DAYS: i64 = 30;
pub const MAX_EXPIRY_DAYS: i64 = 366;

/// What a person asks to acknowledge, checked ([`AckRequest::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRequest {
    pub processor: ProcessorId,
    pub date: NaiveDate,
    /// `None`: the whole cell.
    pub entities: Option<Vec<String>>,
    pub reason: AckReason,
    pub note: String,
    pub ticket_url: Option<String>,
    /// From creation; [`DEFAULT_EXPIRY_DAYS`] when not given.
    pub expires_in: Option<chrono::Duration>,
}

impl AckRequest {
    /// Refuses what cannot be kept as asked, naming the field: no entity,
    /// too many, an empty or overlong name, a control character, a note or
    /// ticket too long, a ticket that is not an http(s) URL, an expiry out
    /// of bounds.
    pub fn validate(&mut self) -> Result<(), DomainError> {
        let bad = |name: &'static str, message: String| DomainError::BadParameter { name, message };
        if let Some(list) = &mut self.entities {
            for e in list.iter_mut() {
                *e = e.trim().to_string();
            }
            list.retain(|e| !e.is_empty());
            list.sort();
            list.dedup();
            if list.is_empty() {
                return Err(bad("entity", "give at least one, or the whole cell".into()));
            }
            if list.len() > MAX_ENTITIES {
                return Err(bad(
                    "entity",
                    format!("{} given, at most {MAX_ENTITIES} at once", list.len()),
                ));
            }
            if let Some(e) = list
                .iter()
                .find(|e| e.len() > 256 || e.chars().any(char::is_control))
            {
                return Err(bad(
                    "entity",
                    format!(
                        "{:?} is not an entity id (at most 256 bytes, no control characters)",
                        e.chars().take(40).collect::<String>()
                    ),
                ));
            }
        }
        if self.note.chars().count() > MAX_NOTE_CHARS {
            return Err(bad("note", format!("at most {MAX_NOTE_CHARS} characters")));
        }
        if let Some(t) = &mut self.ticket_url {
            *t = t.trim().to_string();
        }
        self.ticket_url = self.ticket_url.take().filter(|t| !t.is_empty());
        if let Some(t) = &self.ticket_url {
            let scheme_ok = t.starts_with("https://") || t.starts_with("http://");
            if !scheme_ok
                || t.len() > MAX_TICKET_CHARS
                || t.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(bad(
                    "ticket",
                    format!("an http(s) URL of at most {MAX_TICKET_CHARS} characters"),
                ));
            }
        }
        if let Some(span) = self.expires_in {
            if span <= chrono::Duration::zero() || span > chrono::Duration::days(MAX_EXPIRY_DAYS) {
                return Err(bad(
                    "expires",
                    format!("between a minute and {MAX_EXPIRY_DAYS} days"),
                ));
            }
        }
        Ok(())
    }

    /// The acknowledgements this request makes (one per entity, or one for
    /// the cell), by `who` at `at`; `id` names each from its position.
    pub fn acknowledgements(
        &self,
        who: &str,
        at: NaiveDateTime,
        id: impl Fn(usize) -> String,
    ) -> Vec<Acknowledgement> {
        let expires_at = at
            + self
                .expires_in
                .unwrap_or_else(|| chrono::Duration::days(DEFAULT_EXPIRY_DAYS));
        let entities: Vec<Option<String>> = match &self.entities {
            Some(list) => list.iter().cloned().map(Some).collect(),
            None => vec![None],
        };
        entities
            .into_iter()
            .enumerate()
            .map(|(i, entity)| Acknowledgement {
                id: id(i),
                processor: self.processor,
                date: self.date,
                entity,
                reason: self.reason,
                note: self.note.clone(),
                ticket_url: self.ticket_url.clone(),
                created_by: who.to_string(),
                created_at: at,
                expires_at,
                ended_at: None,
                ended_by: None,
                end: None,
            })
            .collect()
    }
}

/// When those of `acks` over the range and processors expire: the first
/// and the last (what `validate` says of the gaps it lets pass).
pub fn expiry_span(
    acks: &[Acknowledgement],
    range: crate::DateRange,
    processors: &[ProcessorId],
) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let mine = acks
        .iter()
        .filter(|a| range.contains(a.date) && processors.contains(&a.processor))
        .map(|a| a.expires_at);
    let (mut first, mut last) = (None::<NaiveDateTime>, None::<NaiveDateTime>);
    for t in mine {
        first = Some(first.map_or(t, |f| f.min(t)));
        last = Some(last.map_or(t, |l| l.max(t)));
    }
    first.zip(last)
}

/// `7d`, `12h`, `30m`: how long until an acknowledgement expires.
pub fn parse_expiry(raw: &str) -> Result<chrono::Duration, DomainError> {
    crate::watch::parse_span("expires", raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AckRequest {
        AckRequest {
            processor: ProcessorId::at(1),
            date: NaiveDate::from_ymd_opt(2021, 11, 3).unwrap(),
            entities: Some(vec![" bob ".into(), "ann".into(), "ann".into()]),
            reason: AckReason::KnownUpstream,
            note: "two-way players are not in the feed".into(),
            ticket_url: Some("https://tickets.example/ROLL-12".into()),
            expires_in: None,
        }
    }

    #[test]
    fn a_request_is_tidied_and_makes_one_acknowledgement_per_entity() {
        let mut r = request();
        r.validate().unwrap();
        assert_eq!(
            r.entities.as_deref(),
            Some(&["ann".to_string(), "bob".to_string()][..])
        );
        let at = r.date.and_hms_opt(9, 0, 0).unwrap();
        let acks = r.acknowledgements("ops@example.com", at, |i| format!("ack-{i}"));
        assert_eq!(acks.len(), 2);
        assert_eq!(acks[1].entity.as_deref(), Some("bob"));
        assert_eq!(acks[0].expires_at, at + chrono::Duration::days(30));
        assert!(acks[0].is_active(at));
        assert_eq!(acks[0].state(at + chrono::Duration::days(31)), "expired");
        let mut whole = request();
        whole.entities = None;
        whole.validate().unwrap();
        assert_eq!(
            whole.acknowledgements("x", at, |i| i.to_string())[0].entity,
            None
        );
    }

    #[test]
    fn bad_requests_name_their_field() {
        type Spoil = fn(&mut AckRequest);
        let cases: [(Spoil, &str); 6] = [
            (|r| r.entities = Some(vec!["  ".into()]), "entity"),
            (|r| r.entities = Some(vec!["a\u{7}".into()]), "entity"),
            (|r| r.note = "x".repeat(MAX_NOTE_CHARS + 1), "note"),
            (
                |r| r.ticket_url = Some("javascript:alert(1)".into()),
                "ticket",
            ),
            (
                |r| r.expires_in = Some(chrono::Duration::days(400)),
                "expires",
            ),
            (|r| r.expires_in = Some(chrono::Duration::zero()), "expires"),
        ];
        for (spoil, field) in cases {
            let mut r = request();
            spoil(&mut r);
            match r.validate() {
                Err(DomainError::BadParameter { name, .. }) => assert_eq!(name, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(AckReason::parse("Retention").is_ok());
        assert!(AckReason::parse("because").is_err());
        assert!(parse_expiry("7d").is_ok() && parse_expiry("7 weeks").is_err());
    }
}
