//! The four processors as pure functions. For one analysis date D each reads
//! only games strictly before D, and turns every expected player of D into
//! exactly one record or one failure (or covers the whole date with one
//! `DATE_LEVEL` failure). A panic inside one player's computation becomes a
//! `PROCESSING_ERROR` for that player: a bug never drops a player silently.

pub mod command;
mod index;
mod mlfs;
mod pcf;
mod pdc;
mod psza;
mod records;
#[cfg(test)]
mod tests;

pub use index::{SeasonIndex, TeamGame};
pub use mlfs::{FEATURE_NAMES, FEATURE_VERSION};
pub use records::*;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::game::PlayerGame;
use crate::pipeline::Pipeline;
use crate::{Builtin, FailureCategory, ProcessorId, Runner};

/// `entity_id` of a failure that covers every expected player of the date.
pub const DATE_LEVEL: &str = "DATE_LEVEL";
/// Written into `processor_version` of every run row.
pub const PROCESSOR_VERSION: &str = "rollcall-1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub entity_id: String,
    pub category: FailureCategory,
    pub reason: String,
    pub can_retry: bool,
    /// For MISSING_UPSTREAM / MISSING_DEPENDENCIES: which upstream.
    pub upstream_processor: Option<ProcessorId>,
    /// The upstream's own failure category for this player (lineage), if any.
    pub upstream_category: Option<String>,
}

impl FailureRecord {
    pub fn player(entity: &str, category: FailureCategory, reason: impl Into<String>) -> Self {
        let mut reason: String = reason.into();
        if reason.len() > 1000 {
            let cut = (0..=1000)
                .rev()
                .find(|i| reason.is_char_boundary(*i))
                .unwrap_or(0);
            reason.truncate(cut);
        }
        Self {
            entity_id: entity.to_string(),
            can_retry: !matches!(
                category,
                FailureCategory::InsufficientData | FailureCategory::NoShotZone
            ),
            category,
            reason,
            upstream_processor: None,
            upstream_category: None,
        }
    }
}

/// What one upstream processor left for date D, as a downstream sees it.
#[derive(Debug, Clone)]
pub struct Upstream<R> {
    pub records: HashMap<String, R>,
    /// Player → raw failure category string.
    pub failures: HashMap<String, String>,
}

impl<R> Default for Upstream<R> {
    fn default() -> Self {
        Self {
            records: HashMap::new(),
            failures: HashMap::new(),
        }
    }
}

impl<R> Upstream<R> {
    pub fn category_of(&self, player: &str) -> Option<String> {
        self.failures.get(player).cloned()
    }
}

#[derive(Debug, Clone, Default)]
pub struct UpstreamSet {
    pub psza: Upstream<PszaRecord>,
    pub pdc: Upstream<PdcRecord>,
    pub pcf: Upstream<PcfRecord>,
}

impl UpstreamSet {
    /// Takes `processors`' outcomes from `other`, keeping the rest of `self`.
    pub fn merge(
        &mut self,
        mut other: UpstreamSet,
        pipeline: &Pipeline,
        processors: &[ProcessorId],
    ) {
        for p in processors {
            match pipeline.spec(*p).runner {
                Runner::Builtin(Builtin::Psza) => self.psza = std::mem::take(&mut other.psza),
                Runner::Builtin(Builtin::Pdc) => self.pdc = std::mem::take(&mut other.pdc),
                Runner::Builtin(Builtin::Pcf) => self.pcf = std::mem::take(&mut other.pcf),
                Runner::Builtin(Builtin::Mlfs)
                | Runner::Command(_)
                | Runner::Observe
                | Runner::Rerun(_) => {}
            }
        }
    }

    /// Takes in a cell's outcome as the next processors will read it back.
    pub fn absorb(&mut self, out: &CellOutput) {
        let failures = || {
            out.failures
                .iter()
                .filter(|f| f.entity_id != DATE_LEVEL)
                .map(|f| (f.entity_id.clone(), f.category.code().to_string()))
                .collect()
        };
        match &out.records {
            Records::Psza(r) => {
                self.psza.records = r
                    .iter()
                    .map(|x| (x.player_lookup.clone(), x.clone()))
                    .collect();
                self.psza.failures = failures();
            }
            Records::Pdc(r) => {
                self.pdc.records = r
                    .iter()
                    .map(|x| (x.player_lookup.clone(), x.clone()))
                    .collect();
                self.pdc.failures = failures();
            }
            Records::Pcf(r) => {
                self.pcf.records = r
                    .iter()
                    .map(|x| (x.player_lookup.clone(), x.clone()))
                    .collect();
                self.pcf.failures = failures();
            }
            // Nothing downstream reads these from memory: builtins read only
            // builtins, and commands read their own inputs.
            Records::Mlfs(_) | Records::Rows(_) => {}
        }
    }
}

/// The outcome of one (processor, date) cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellOutput {
    pub processor: ProcessorId,
    pub date: NaiveDate,
    pub expected: usize,
    pub records: Records,
    pub failures: Vec<FailureRecord>,
    pub dependency_check_passed: bool,
}

impl CellOutput {
    pub fn record_count(&self) -> usize {
        self.records.len()
    }
}

enum PlayerOutcome<R> {
    Record(R),
    Failure(FailureRecord),
}

/// Runs the `builtin` processor for `date`.
pub fn run(
    pipeline: &Pipeline,
    builtin: Builtin,
    date: NaiveDate,
    index: &SeasonIndex,
    upstream: &UpstreamSet,
) -> CellOutput {
    let Some(processor) = pipeline.builtin(builtin) else {
        unreachable!("a builtin runs only as a processor of its pipeline")
    };
    let expected = index.expected_on(date);
    let n = expected.len();
    let empty = |records: Records, failures: Vec<FailureRecord>, ok: bool| CellOutput {
        processor,
        date,
        expected: n,
        records,
        failures,
        dependency_check_passed: ok,
    };
    if let Some(failure) = date_level_check(pipeline, processor, date, upstream) {
        if n == 0 {
            return empty(Records::empty(builtin), Vec::new(), false);
        }
        return empty(Records::empty(builtin), vec![failure], false);
    }
    let ctx = Ctx {
        pipeline,
        date,
        index,
        upstream,
    };
    match builtin {
        Builtin::Psza => {
            let (r, f) = per_player(&expected, |g| psza::compute(&ctx, g));
            empty(Records::Psza(r), f, true)
        }
        Builtin::Pdc => {
            let (r, f) = per_player(&expected, |g| pdc::compute(&ctx, g));
            empty(Records::Pdc(r), f, true)
        }
        Builtin::Pcf => {
            let (r, f) = per_player(&expected, |g| pcf::compute(&ctx, g));
            empty(Records::Pcf(r), f, true)
        }
        Builtin::Mlfs => {
            let (r, f) = per_player(&expected, |g| mlfs::compute(&ctx, g));
            empty(Records::Mlfs(r), f, true)
        }
    }
}

pub(crate) struct Ctx<'a> {
    pub pipeline: &'a Pipeline,
    pub date: NaiveDate,
    pub index: &'a SeasonIndex,
    pub upstream: &'a UpstreamSet,
}

impl Ctx<'_> {
    /// The processor running `builtin`: the pipeline file's validation makes
    /// every builtin a builtin needs one of its declared dependencies.
    pub fn id_of(&self, builtin: Builtin) -> ProcessorId {
        match self.pipeline.builtin(builtin) {
            Some(id) => id,
            None => unreachable!("validated pipelines declare what a builtin needs"),
        }
    }
}

fn per_player<R>(
    expected: &[&PlayerGame],
    f: impl Fn(&PlayerGame) -> PlayerOutcome<R>,
) -> (Vec<R>, Vec<FailureRecord>) {
    let mut records = Vec::with_capacity(expected.len());
    let mut failures = Vec::new();
    for g in expected {
        match catch_unwind(AssertUnwindSafe(|| f(g))) {
            Ok(PlayerOutcome::Record(r)) => records.push(r),
            Ok(PlayerOutcome::Failure(fr)) => failures.push(fr),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                failures.push(FailureRecord::player(
                    &g.player_lookup,
                    FailureCategory::ProcessingError,
                    format!("processor panicked: {msg}"),
                ));
            }
        }
    }
    (records, failures)
}

/// Date-level dependency check: a downstream cannot run on a date for which an
/// upstream wrote no records at all.
fn date_level_check(
    pipeline: &Pipeline,
    processor: ProcessorId,
    date: NaiveDate,
    up: &UpstreamSet,
) -> Option<FailureRecord> {
    // Only the builtins' records are in hand; they are all a builtin reads.
    let has_no_records = |id: &ProcessorId| match pipeline.spec(*id).runner {
        Runner::Builtin(Builtin::Psza) => up.psza.records.is_empty(),
        Runner::Builtin(Builtin::Pdc) => up.pdc.records.is_empty(),
        Runner::Builtin(Builtin::Pcf) => up.pcf.records.is_empty(),
        Runner::Builtin(Builtin::Mlfs)
        | Runner::Command(_)
        | Runner::Observe
        | Runner::Rerun(_) => false,
    };
    let missing: Vec<ProcessorId> = pipeline
        .spec(processor)
        .depends_on
        .iter()
        .copied()
        .filter(has_no_records)
        .collect();
    let first = *missing.first()?;
    let names: Vec<&str> = missing.iter().map(|m| pipeline.code(*m)).collect();
    Some(FailureRecord {
        entity_id: DATE_LEVEL.into(),
        category: FailureCategory::MissingDependencies,
        reason: format!("{} has no records for {date}", names.join(" and ")),
        can_retry: true,
        upstream_processor: Some(first),
        upstream_category: None,
    })
}

/// The player-level MISSING_UPSTREAM failure naming the first missing upstream
/// (in dependency order) and that upstream's own category for the player.
pub(crate) fn missing_upstream(
    ctx: &Ctx,
    player: &str,
    upstream: Builtin,
    upstream_category: Option<String>,
) -> FailureRecord {
    let upstream = ctx.id_of(upstream);
    let what = upstream_category
        .clone()
        .unwrap_or_else(|| "no record and no failure".into());
    FailureRecord {
        upstream_processor: Some(upstream),
        upstream_category,
        ..FailureRecord::player(
            player,
            FailureCategory::MissingUpstream,
            format!("no {} record ({what})", ctx.pipeline.code(upstream)),
        )
    }
}

/// The player's played games before the date, or INSUFFICIENT_DATA when there
/// are fewer than the processor's minimum.
pub(crate) fn history_or_insufficient<'a>(
    ctx: &Ctx<'a>,
    today: &PlayerGame,
    processor: Builtin,
) -> Result<Vec<&'a PlayerGame>, FailureRecord> {
    let history = ctx
        .index
        .history(&today.player_lookup, today.season_year, ctx.date);
    let need = ctx.pipeline.spec(ctx.id_of(processor)).min_games;
    if history.len() < need {
        return Err(FailureRecord::player(
            &today.player_lookup,
            FailureCategory::InsufficientData,
            format!(
                "{} game{}, need {need}",
                history.len(),
                if history.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok(history)
}

pub(crate) fn mean(xs: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for x in xs {
        sum += x;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

pub(crate) fn ratio(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
