//! Watching (docs/DESIGN.md §9, issue [M]): an evaluation reconciles a
//! window and is compared with the one before it, per cell and per entity;
//! alerts go out only for cells that opened, got worse or resolved. The
//! rules here are pure: the engine reads the cells and open entities from a
//! store, these rules decide what changed and what a message says.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::pipeline::Pipeline;
use crate::report::CellCounts;
use crate::ProcessorId;

mod alert;
pub use alert::*;

/// The entity names an evaluation keeps per cell (the full count is kept
/// beside them): storage stays bounded however large a gap.
pub const ENTITIES_KEPT: usize = 200;

/// Entity names a webhook body lists per cell.
pub const ENTITIES_PER_ALERT_CELL: usize = 20;

/// Cells a chat message lists before "and N more".
pub const CELLS_PER_MESSAGE: usize = 10;

/// `[watch]` of a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchSettings {
    /// The rolling window an evaluation reconciles: this many days up to
    /// the evaluation's date.
    pub window_days: u32,
    /// How often `serve` evaluates, in seconds (`every = "1h"`).
    pub every_secs: u64,
    /// Evaluations older than this are deleted.
    pub retention_days: u32,
    /// Queue a gaps-only re-run (with downstream) for runnable cells that
    /// newly opened, at most once per cell per day.
    pub auto_rerun: bool,
    /// The zone deadlines are read in (`UTC`, or an IANA name such as
    /// `America/New_York`, looked up in the system's tz database).
    pub timezone: String,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            window_days: 14,
            every_secs: 3600,
            retention_days: 90,
            auto_rerun: false,
            timezone: "UTC".into(),
        }
    }
}

/// Where an alert goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A Slack incoming webhook (`{"text": …}`).
    Slack,
    /// A Microsoft Teams incoming webhook (`{"text": …}`).
    Teams,
    /// The documented JSON body, signed when `secret_env` is set.
    Webhook,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Slack => "slack",
            Channel::Teams => "teams",
            Channel::Webhook => "webhook",
        }
    }
}

/// What kind of open cell an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertOn {
    Unaccounted,
    Investigate,
    Late,
}

/// `[[alert]]` of a pipeline file. The URL and the signing secret are
/// named by environment variables, never written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSpec {
    pub channel: Channel,
    pub url_env: String,
    pub secret_env: Option<String>,
    pub on: Vec<AlertOn>,
}

impl AlertSpec {
    /// The channel as named in logs and on /alerts (`webhook:HOOK_URL`).
    pub fn label(&self) -> String {
        format!("{}:{}", self.channel.name(), self.url_env)
    }
}

/// What happened to a cell between two evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Open now, not open (or not seen) before.
    Opened,
    /// Open before and now, with more unaccounted or investigate entities,
    /// or newly late.
    Worse,
    /// Open before and now, no worse.
    Open,
    /// Open before, not now.
    Resolved,
}

impl Change {
    pub fn word(self) -> &'static str {
        match self {
            Change::Opened => "opened",
            Change::Worse => "worse",
            Change::Open => "open",
            Change::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Change::Opened,
            Change::Worse,
            Change::Open,
            Change::Resolved,
        ]
        .into_iter()
        .find(|c| c.word() == s)
    }

    /// Whether the change is news (an alert, a line in the feed).
    pub fn is_news(self) -> bool {
        match self {
            Change::Opened | Change::Worse | Change::Resolved => true,
            Change::Open => false,
        }
    }
}

/// A cell as one evaluation saw it. Kept for cells open at the evaluation
/// and cells it found resolved; a cell absent from an evaluation was fine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedCell {
    pub processor: ProcessorId,
    pub date: NaiveDate,
    pub expected: i64,
    pub records: i64,
    /// Expected entities whose failure is expected (not open).
    pub expected_failures: i64,
    pub investigate: i64,
    pub unaccounted: i64,
    /// Past its completeness deadline and not complete.
    pub late: bool,
    pub change: Change,
    /// When the cell's current open streak began (for a resolved cell: the
    /// streak that ended).
    pub open_since: NaiveDateTime,
    /// Open entities (unaccounted or to investigate), sorted, at most
    /// [`ENTITIES_KEPT`]; `open_entities` counts all of them.
    pub entities: Vec<String>,
    pub open_entities: i64,
    /// Entities open now that were not before, and open before that are
    /// not now (each at most [`ENTITIES_KEPT`]).
    pub new_entities: Vec<String>,
    pub resolved_entities: Vec<String>,
    /// Which set of open entities this is ([`OpenSet::names_key`]): the
    /// store keeps each set's list once, shared by every evaluation that saw
    /// it, so an unchanged cell is kept without its names. `entities` may
    /// then be empty in memory until read back by this key.
    #[serde(default)]
    pub names_key: Option<String>,
}

impl WatchedCell {
    pub fn is_open(&self) -> bool {
        self.change != Change::Resolved
    }

    /// `PDC:2021-11-10`: the cell's key in links and alert dedup keys.
    pub fn key(&self, pipeline: &Pipeline) -> String {
        format!("{}:{}", pipeline.code(self.processor), self.date)
    }

    /// The kinds of trouble the cell has (for a resolved cell: had).
    pub fn troubles(&self, before: Option<&WatchedCell>) -> BTreeSet<AlertOn> {
        let mut out = BTreeSet::new();
        for c in std::iter::once(self).chain(before) {
            if c.unaccounted > 0 {
                out.insert(AlertOn::Unaccounted);
            }
            if c.investigate > 0 {
                out.insert(AlertOn::Investigate);
            }
            if c.late {
                out.insert(AlertOn::Late);
            }
        }
        out
    }
}

/// Who is open in one cell as the store counts and fingerprints them in
/// the reconciliation's own statement, without reading a name: the open
/// entities, and those to investigate (all a cell with a date-level
/// failure lists). The fingerprint is the XOR of a per-name hash, so it is
/// the same for the same set whatever the order, and two sets of the same
/// size differ in it but for a 1-in-2⁶⁴ chance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenSet {
    pub count: i64,
    pub fingerprint: i64,
    pub investigate: i64,
    pub investigate_fingerprint: i64,
}

impl OpenSet {
    /// The key of the names a cell lists (all its open entities, or with a
    /// date-level failure only those to investigate); none when it lists no
    /// one.
    pub fn names_key(&self, date_level: bool) -> Option<String> {
        let (count, fingerprint) = if date_level {
            (self.investigate, self.investigate_fingerprint)
        } else {
            (self.count, self.fingerprint)
        };
        (count > 0).then(|| format!("{count}-{:016x}", fingerprint as u64))
    }
}

/// Each selected processor's [`OpenSet`] per date, from the
/// reconciliation's masks with their players' fingerprints (XOR).
pub fn open_sets(
    masks: &[(crate::reconcile::MaskCount, i64)],
    selected: &[ProcessorId],
) -> std::collections::HashMap<(ProcessorId, NaiveDate), OpenSet> {
    let mut out: std::collections::HashMap<(ProcessorId, NaiveDate), OpenSet> =
        std::collections::HashMap::new();
    for (m, fingerprint) in masks {
        for &p in selected {
            let bit = crate::reconcile::mask::processor_bit(p);
            if !m.mask.open_for(bit) {
                continue;
            }
            let set = out.entry((p, m.date)).or_default();
            set.count += m.players;
            set.fingerprint ^= fingerprint;
            if m.mask.investigate & bit != 0 {
                set.investigate += m.players;
                set.investigate_fingerprint ^= fingerprint;
            }
        }
    }
    out
}

/// A cell's counts at an evaluation, with its open entities and lateness.
#[derive(Debug, Clone)]
pub struct Observed {
    pub cell: CellCounts,
    pub late: bool,
    /// How many entities the cell lists as open (all its open ones, or
    /// with a date-level failure those to investigate).
    pub open_count: i64,
    /// Their set's key ([`OpenSet::names_key`]).
    pub names_key: Option<String>,
    /// Every one of them, sorted, each once; `None` when not read because
    /// the previous evaluation kept the same set (the same `names_key`).
    pub entities: Option<Vec<String>>,
}

impl Observed {
    pub fn is_open(&self) -> bool {
        self.cell.unaccounted > 0 || self.cell.investigate > 0 || self.late
    }
}

/// The names only in `before` and those only in `now` (each at most
/// [`ENTITIES_KEPT`]), by one walk over both sorted, distinct lists: a
/// season's cells compare 200 names each, so no per-name search.
fn sorted_differences(before: &[String], now: &[String]) -> (Vec<String>, Vec<String>) {
    use std::cmp::Ordering;
    let (mut gone, mut new) = (Vec::new(), Vec::new());
    let (mut b, mut n) = (before.iter().peekable(), now.iter().peekable());
    loop {
        let order = match (b.peek(), n.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(y),
        };
        match order {
            Ordering::Less => push_capped(&mut gone, b.next()),
            Ordering::Greater => push_capped(&mut new, n.next()),
            Ordering::Equal => {
                b.next();
                n.next();
            }
        }
    }
    (gone, new)
}

fn strictly_sorted(names: &[String]) -> bool {
    names.windows(2).all(|p| p[0] < p[1])
}

fn push_capped(list: &mut Vec<String>, name: Option<&String>) {
    if let Some(name) = name.filter(|_| list.len() < ENTITIES_KEPT) {
        list.push(name.clone());
    }
}

fn capped(names: impl IntoIterator<Item = String>) -> Vec<String> {
    names.into_iter().take(ENTITIES_KEPT).collect()
}

/// Compares what an evaluation observed with the cells the previous one
/// kept (only those of the same window's dates count: a cell that left the
/// window did not resolve). Returns the cells to keep: every open cell and
/// every resolved one, by processor then date.
pub fn compare(
    previous: &[WatchedCell],
    observed: Vec<Observed>,
    window: crate::DateRange,
    at: NaiveDateTime,
) -> Vec<WatchedCell> {
    let before: BTreeMap<(ProcessorId, NaiveDate), &WatchedCell> = previous
        .iter()
        .filter(|c| c.is_open() && window.contains(c.date))
        .map(|c| ((c.processor, c.date), c))
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for o in observed {
        let key = (o.cell.processor, o.cell.date);
        seen.insert(key);
        let was = before.get(&key).copied();
        let open = o.is_open();
        let change = match (was, open) {
            (None, false) => continue,
            (Some(_), false) => Change::Resolved,
            (None, true) => Change::Opened,
            (Some(w), true) => {
                let worse = o.cell.unaccounted > w.unaccounted
                    || o.cell.investigate > w.investigate
                    || (o.late && !w.late);
                if worse {
                    Change::Worse
                } else {
                    Change::Open
                }
            }
        };
        // The same set as before: nobody new, nobody resolved, and the
        // names stay where the store keeps them (read by the key).
        let same_set = o.names_key.is_some() && was.is_some_and(|w| w.names_key == o.names_key);
        let (entities, new_entities, resolved_entities) = if same_set {
            let kept = was.map(|w| w.entities.clone()).unwrap_or_default();
            (kept, Vec::new(), Vec::new())
        } else {
            let mut now = o.entities.unwrap_or_default();
            // Names are compared by walking sorted lists; a store that
            // ordered them otherwise (a collation) is normalised, not trusted.
            if !strictly_sorted(&now) {
                now.sort();
                now.dedup();
            }
            let previous_names: std::borrow::Cow<'_, [String]> = match was {
                Some(w) if strictly_sorted(&w.entities) => std::borrow::Cow::Borrowed(&w.entities),
                Some(w) => {
                    let mut names = w.entities.clone();
                    names.sort();
                    names.dedup();
                    std::borrow::Cow::Owned(names)
                }
                None => std::borrow::Cow::Borrowed(&[]),
            };
            let (resolved, new) = sorted_differences(&previous_names, &now);
            // A list kept in full can be compared name by name; a capped
            // one cannot tell a name it dropped from a new one.
            let comparable = was.is_none_or(|w| w.entities.len() as i64 == w.open_entities);
            (
                capped(now),
                if comparable { new } else { Vec::new() },
                resolved,
            )
        };
        let c = &o.cell;
        out.push(WatchedCell {
            processor: c.processor,
            date: c.date,
            expected: c.expected,
            records: c.has_record,
            // Investigated entities are among those with a failure.
            expected_failures: c.has_failure - c.investigate,
            investigate: c.investigate,
            unaccounted: c.unaccounted,
            late: o.late,
            change,
            open_since: match (was, change) {
                (Some(w), _) => w.open_since,
                (None, _) => at,
            },
            open_entities: o.open_count,
            entities,
            new_entities,
            resolved_entities,
            names_key: o.names_key,
        });
    }
    // Open before, and no cell now (its date has no expected entity left):
    // resolved.
    for (key, w) in &before {
        if !seen.contains(key) {
            out.push(WatchedCell {
                change: Change::Resolved,
                expected: 0,
                records: 0,
                expected_failures: 0,
                investigate: 0,
                unaccounted: 0,
                late: false,
                entities: Vec::new(),
                open_entities: 0,
                new_entities: Vec::new(),
                resolved_entities: w.entities.clone(),
                names_key: None,
                ..(*w).clone()
            });
        }
    }
    out.sort_by_key(|c| (c.processor, c.date));
    out
}

/// A processor's completeness deadline (`expected_by`, `lag_days`): a
/// cell of date D is due at `expected_by` local time on D + `lag_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub expected_by: chrono::NaiveTime,
    pub lag_days: u32,
}

impl Deadline {
    /// The local time the cell of `date` is due.
    pub fn due(&self, date: NaiveDate) -> NaiveDateTime {
        (date + chrono::Duration::days(i64::from(self.lag_days))).and_time(self.expected_by)
    }

    /// Late: past its deadline (`now_local`, in the watch's time zone) and
    /// not run, or still with unaccounted entities.
    pub fn is_late(&self, cell: &CellCounts, now_local: NaiveDateTime) -> bool {
        now_local >= self.due(cell.date) && (cell.runs == 0 || cell.unaccounted > 0)
    }
}

/// What /metrics reads of an evaluation, per processor: its window's
/// entities by state, its cells by status, its open and late cells and the
/// start of its oldest open streak.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorSummary {
    pub expected: i64,
    pub records: i64,
    pub expected_failures: i64,
    pub investigate: i64,
    pub unaccounted: i64,
    /// Cells by status code (`OK`, `UNTRACKED`, …).
    pub cells: BTreeMap<String, i64>,
    pub open_cells: i64,
    pub late_cells: i64,
    pub oldest_open_since: Option<NaiveDateTime>,
}

/// Per processor code.
pub type Summary = BTreeMap<String, ProcessorSummary>;

/// The summary of an evaluation's reconciled cells; [`note_open`] adds
/// the open streaks once they are compared.
pub fn summarize(pipeline: &Pipeline, observed: &[Observed]) -> Summary {
    let mut out: Summary = pipeline
        .processors
        .iter()
        .map(|p| (p.code.clone(), ProcessorSummary::default()))
        .collect();
    for o in observed {
        let c = &o.cell;
        let s = out
            .entry(pipeline.code(c.processor).to_string())
            .or_default();
        s.expected += c.expected;
        s.records += c.has_record;
        s.expected_failures += c.has_failure - c.investigate;
        s.investigate += c.investigate;
        s.unaccounted += c.unaccounted;
        *s.cells.entry(c.status().code().to_string()).or_default() += 1;
        s.late_cells += i64::from(o.late);
    }
    out
}

/// Counts the open cells of `kept` and their oldest streak into `summary`.
pub fn note_open(pipeline: &Pipeline, summary: &mut Summary, kept: &[WatchedCell]) {
    let out = summary;
    for c in kept.iter().filter(|c| c.is_open()) {
        let s = out
            .entry(pipeline.code(c.processor).to_string())
            .or_default();
        s.open_cells += 1;
        if s.oldest_open_since.is_none_or(|o| c.open_since < o) {
            s.oldest_open_since = Some(c.open_since);
        }
    }
}

/// One kept evaluation (issue [M]): when, over which dates, and what it
/// found; `summary` is JSON per processor (open cells and entities by
/// state, the oldest open streak) for /metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationRecord {
    pub id: String,
    /// Who asked: `cli`, `schedule`, `job <id>`, `demo`.
    pub trigger: String,
    pub as_of: NaiveDateTime,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub started_at: NaiveDateTime,
    pub duration_ms: i64,
    pub open_cells: i64,
    pub summary: String,
}

/// One alert delivery: its channel, how many cells it named, and how it
/// ended (an HTTP status, or the error when nothing answered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: String,
    pub evaluation_id: String,
    pub channel: String,
    pub sent_at: NaiveDateTime,
    pub cells: i64,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub attempts: i64,
}

/// What changed since a moment: the news of every evaluation since, newest
/// first, and the cells still open at the latest one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeFeed {
    pub since: NaiveDateTime,
    pub evaluations: usize,
    /// Cells that opened, got worse or resolved.
    pub news: Vec<FeedLine>,
    /// Cells open at the latest evaluation.
    pub still_open: Vec<FeedLine>,
}

/// A cell as an evaluation kept it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedLine {
    pub evaluation: String,
    pub cell: WatchedCell,
}

/// `since` as typed (`30m`, `24h`, `7d`; up to ten years).
pub fn parse_since(raw: &str) -> Result<chrono::Duration, crate::DomainError> {
    parse_span("since", raw)
}

/// A span as typed for the parameter `name`: `30m`, `24h`, `7d`.
pub fn parse_span(name: &'static str, raw: &str) -> Result<chrono::Duration, crate::DomainError> {
    let bad = || crate::DomainError::BadParameter {
        name,
        message: format!(
            "{:?}: a duration such as 30m, 24h or 7d",
            raw.chars().take(40).collect::<String>()
        ),
    };
    let raw = raw.trim();
    let unit = raw.chars().last().ok_or_else(bad)?;
    let n: i64 = raw[..raw.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    let minutes = match unit {
        'm' => Some(n),
        'h' => n.checked_mul(60),
        'd' => n.checked_mul(1440),
        _ => None,
    }
    .filter(|m| (1..=3650 * 1440).contains(m))
    .ok_or_else(bad)?;
    Ok(chrono::Duration::minutes(minutes))
}

/// A backfill's stop rules (`--stop-on investigate,unaccounted`): it stops
/// after the in-flight write when a cell it wrote has entities to
/// investigate or unaccounted ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopOn {
    pub investigate: bool,
    pub unaccounted: bool,
}

impl StopOn {
    /// `investigate`, `unaccounted`, both comma-separated, or nothing.
    pub fn parse(raw: &str) -> Result<Self, crate::DomainError> {
        let mut out = StopOn::default();
        for word in raw.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "investigate" => out.investigate = true,
                "unaccounted" => out.unaccounted = true,
                other => {
                    return Err(crate::DomainError::BadParameter {
                        name: "stop-on",
                        message: format!(
                            "{:?}: investigate, unaccounted or both (comma-separated)",
                            other.chars().take(40).collect::<String>()
                        ),
                    })
                }
            }
        }
        Ok(out)
    }

    pub fn is_set(self) -> bool {
        self.investigate || self.unaccounted
    }

    /// Whether a written cell trips the rule.
    pub fn trips(self, c: &CellCounts) -> bool {
        (self.investigate && c.investigate > 0) || (self.unaccounted && c.unaccounted > 0)
    }

    /// `investigate,unaccounted`.
    pub fn words(self) -> String {
        [
            ("investigate", self.investigate),
            ("unaccounted", self.unaccounted),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(w, _)| *w)
        .collect::<Vec<_>>()
        .join(",")
    }

    /// Why a job stopped: the rule and the cells that tripped it.
    pub fn reason(self, pipeline: &Pipeline, tripped: &[CellCounts]) -> String {
        let cells: Vec<String> = tripped
            .iter()
            .take(CELLS_PER_MESSAGE)
            .map(|c| {
                format!(
                    "{} {} ({} unaccounted, {} to investigate)",
                    pipeline.code(c.processor),
                    c.date,
                    c.unaccounted,
                    c.investigate
                )
            })
            .collect();
        let more = tripped.len().saturating_sub(CELLS_PER_MESSAGE);
        format!(
            "stopped by --stop-on {}: {}{}",
            self.words(),
            cells.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CellCounts;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2021, 11, day).unwrap()
    }

    fn t(hour: u32) -> NaiveDateTime {
        d(20).and_hms_opt(hour, 0, 0).unwrap()
    }

    fn observed(day: u32, unaccounted: &[&str], investigate: i64, late: bool) -> Observed {
        let mut cell = CellCounts {
            processor: ProcessorId::at(0),
            date: d(day),
            expected: 10,
            has_record: 10 - unaccounted.len() as i64 - investigate,
            has_failure: investigate,
            date_level: false,
            unaccounted: unaccounted.len() as i64,
            acknowledged: 0,
            investigate,
            runs: 1,
            conflict: 0,
            extra: 0,
            cascade: 0,
            failures_by_category: Default::default(),
            last_run: None,
        };
        cell.has_record = cell.has_record.max(0);
        Observed {
            cell,
            late,
            open_count: unaccounted.len() as i64,
            names_key: None,
            entities: Some(unaccounted.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// `observed` as the engine hands it over: the set's key from the store,
    /// the names only when `read`.
    fn keyed(day: u32, unaccounted: &[&str], key: &str, read: bool) -> Observed {
        let mut o = observed(day, unaccounted, 0, false);
        o.names_key = Some(key.to_string());
        if !read {
            o.entities = None;
        }
        o
    }

    #[test]
    fn an_unchanged_set_is_kept_by_its_key_and_a_swap_of_the_same_size_is_named() {
        let first = compare(
            &[],
            vec![keyed(1, &["ann", "bob"], "2-a", true)],
            window(),
            t(8),
        );
        assert_eq!(first[0].names_key.as_deref(), Some("2-a"));
        assert_eq!(first[0].entities, ["ann", "bob"]);
        // The store saw the same set: its names are not read, and nothing
        // is new or resolved.
        let mut light = first.clone();
        light[0].entities.clear();
        let same = compare(
            &light,
            vec![keyed(1, &["ann", "bob"], "2-a", false)],
            window(),
            t(9),
        );
        assert_eq!(same[0].change, Change::Open);
        assert_eq!(same[0].open_entities, 2);
        assert!(
            same[0].entities.is_empty(),
            "read back by the key when needed"
        );
        assert!(same[0].new_entities.is_empty() && same[0].resolved_entities.is_empty());
        assert_eq!(same[0].names_key.as_deref(), Some("2-a"));
        // Two names swapped, the count unchanged: another key, so both
        // lists are read and the swap is named.
        let swapped = compare(
            &first,
            vec![keyed(1, &["ann", "cy"], "2-b", true)],
            window(),
            t(10),
        );
        assert_eq!(swapped[0].change, Change::Open);
        assert_eq!(swapped[0].new_entities, ["cy"]);
        assert_eq!(swapped[0].resolved_entities, ["bob"]);
        assert_eq!(swapped[0].entities, ["ann", "cy"]);
    }

    #[test]
    fn names_out_of_order_are_sorted_before_they_are_compared() {
        let first = compare(
            &[],
            vec![observed(1, &["cy", "ann"], 0, false)],
            window(),
            t(8),
        );
        assert_eq!(first[0].entities, ["ann", "cy"]);
        let mut unsorted = first.clone();
        unsorted[0].entities = vec!["cy".into(), "ann".into()];
        let next = compare(
            &unsorted,
            vec![observed(1, &["dan", "ann"], 0, false)],
            window(),
            t(9),
        );
        assert_eq!(next[0].new_entities, ["dan"]);
        assert_eq!(next[0].resolved_entities, ["cy"]);
    }

    #[test]
    fn open_sets_xor_their_groups_and_a_date_level_cell_keys_those_to_investigate() {
        use crate::reconcile::{mask::processor_bit, Mask, MaskCount};
        let (a, b) = (ProcessorId::at(0), ProcessorId::at(1));
        let (bit_a, bit_b) = (processor_bit(a), processor_bit(b));
        let group = |records, failures, investigate, players| MaskCount {
            date: d(1),
            mask: Mask {
                expected: true,
                records,
                failures,
                investigate,
                acknowledged: 0,
            },
            players,
        };
        let masks = [
            // Missing everywhere.
            (group(0, 0, 0, 3), 0b0011),
            // A's record, B's failure to investigate.
            (group(bit_a, bit_b, bit_b, 2), 0b0100),
            // An expected failure of A: not open for A, open for B.
            (group(0, bit_a, 0, 1), 0b1000),
        ];
        let sets = open_sets(&masks, &[a, b]);
        let set_a = sets[&(a, d(1))];
        assert_eq!((set_a.count, set_a.fingerprint), (3, 0b0011));
        let set_b = sets[&(b, d(1))];
        assert_eq!((set_b.count, set_b.fingerprint), (6, 0b1111));
        assert_eq!(
            (set_b.investigate, set_b.investigate_fingerprint),
            (2, 0b0100)
        );
        assert_eq!(
            set_b.names_key(false).as_deref(),
            Some("6-000000000000000f")
        );
        assert_eq!(set_b.names_key(true).as_deref(), Some("2-0000000000000004"));
        assert_eq!(set_a.names_key(true), None, "no one to investigate");
    }

    fn window() -> crate::DateRange {
        crate::DateRange::new(d(1), d(10), 100).unwrap()
    }

    #[test]
    fn cells_open_worsen_stay_and_resolve_with_their_entities() {
        let first = compare(
            &[],
            vec![
                observed(1, &["ann"], 0, false),
                observed(2, &["bob"], 0, false),
                observed(3, &[], 0, false),
                observed(4, &["cy"], 0, false),
            ],
            window(),
            t(8),
        );
        let changes: Vec<(u32, Change)> = first
            .iter()
            .map(|c| (chrono::Datelike::day(&c.date), c.change))
            .collect();
        // A cell that was never open is not kept.
        assert_eq!(
            changes,
            [
                (1, Change::Opened),
                (2, Change::Opened),
                (4, Change::Opened)
            ]
        );
        let second = compare(
            &first,
            vec![
                observed(1, &["ann", "dan"], 0, false),
                observed(2, &["bob"], 0, false),
                observed(3, &[], 0, false),
                observed(4, &[], 0, false),
            ],
            window(),
            t(9),
        );
        let by_day = |day| second.iter().find(|c| c.date == d(day)).unwrap();
        assert_eq!(by_day(1).change, Change::Worse);
        assert_eq!(by_day(1).new_entities, ["dan"]);
        assert_eq!(by_day(1).open_since, t(8), "the streak goes on");
        assert_eq!(by_day(2).change, Change::Open);
        assert!(!by_day(2).change.is_news());
        assert_eq!(by_day(4).change, Change::Resolved);
        assert_eq!(by_day(4).resolved_entities, ["cy"]);
        assert!(second.iter().all(|c| c.date != d(3)));
        // Resolved cells are not carried: the next comparison starts anew.
        let third = compare(
            &second,
            vec![observed(4, &["cy"], 0, false)],
            window(),
            t(10),
        );
        assert_eq!(
            third.iter().find(|c| c.date == d(4)).unwrap().change,
            Change::Opened
        );
        // Open before and gone from the reconciliation: resolved too.
        assert!(third
            .iter()
            .any(|c| c.date == d(1) && c.change == Change::Resolved));
    }

    #[test]
    fn late_and_investigate_open_a_cell_and_a_cell_leaving_the_window_does_not_resolve() {
        let first = compare(
            &[],
            vec![observed(1, &[], 0, true), observed(2, &[], 2, false)],
            window(),
            t(8),
        );
        assert!(first.iter().all(|c| c.change == Change::Opened));
        assert_eq!(first[0].troubles(None), [AlertOn::Late].into());
        assert_eq!(first[1].troubles(None), [AlertOn::Investigate].into());
        assert_eq!(first[1].expected_failures, 0);
        let moved = crate::DateRange::new(d(2), d(11), 100).unwrap();
        let next = compare(&first, vec![observed(2, &[], 2, false)], moved, t(9));
        assert_eq!(next.len(), 1, "day 1 left the window: not resolved");
        assert_eq!(next[0].change, Change::Open);
    }

    #[test]
    fn kept_names_are_capped_and_a_capped_list_reports_no_new_names() {
        let many: Vec<String> = (0..ENTITIES_KEPT + 50)
            .map(|i| format!("p{i:04}"))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let first = compare(&[], vec![observed(1, &refs, 0, false)], window(), t(8));
        assert_eq!(first[0].entities.len(), ENTITIES_KEPT);
        assert_eq!(first[0].open_entities, (ENTITIES_KEPT + 50) as i64);
        let mut more = refs.clone();
        more.push("zed");
        let next = compare(&first, vec![observed(1, &more, 0, false)], window(), t(9));
        assert_eq!(next[0].change, Change::Worse);
        assert!(
            next[0].new_entities.is_empty(),
            "cannot tell from a capped list"
        );
    }

    #[test]
    fn a_deadline_is_local_time_on_the_day_after_unless_lagged() {
        let by_nine = Deadline {
            expected_by: chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            lag_days: 1,
        };
        let cell = observed(10, &["ann"], 0, false).cell;
        assert_eq!(by_nine.due(d(10)), d(11).and_hms_opt(9, 0, 0).unwrap());
        assert!(!by_nine.is_late(&cell, d(11).and_hms_opt(8, 59, 0).unwrap()));
        assert!(by_nine.is_late(&cell, d(11).and_hms_opt(9, 0, 0).unwrap()));
        let complete = observed(10, &[], 0, false).cell;
        assert!(!by_nine.is_late(&complete, d(12).and_hms_opt(0, 0, 0).unwrap()));
        let never_run = CellCounts {
            runs: 0,
            ..complete
        };
        assert!(by_nine.is_late(&never_run, d(12).and_hms_opt(0, 0, 0).unwrap()));
    }
}
