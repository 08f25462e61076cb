//! Running a job's cells, one module per runner kind. The kind
//! ([`domain::Runner`]) is matched here and nowhere else in the engine:
//! [`Inputs::gather`] decides what the kinds read before a job's first cell,
//! [`Batch::run`] runs the commands of a batch ahead of its cells, and
//! [`Batch::cell`] hands each cell to its kind.

pub mod builtin;
pub mod command;
#[cfg(target_os = "linux")]
mod keeper;
pub mod rerun;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDate};
use domain::pipeline::Pipeline;
use domain::processors::{CellOutput, SeasonIndex};
use domain::report::PlannedCell;
use domain::{DateRange, ProcessorId, Runner};
use warehouse::Warehouse;

pub(crate) use builtin::WrittenToday;

use crate::EngineError;

/// A cell's outcome: its output (`None`: a team's program wrote its tables
/// itself, Rollcall records the run only) or why it failed, the time it
/// took, and what its run row says besides (a command's leftovers).
pub(crate) struct Outcome {
    pub(crate) result: Result<Option<CellOutput>, String>,
    pub(crate) took: Duration,
    pub(crate) note: Option<String>,
    /// When a team's re-run program started: its run row's time, so a row
    /// the program wrote to its own run log after it counts as later.
    pub(crate) started: Option<chrono::NaiveDateTime>,
}

impl Outcome {
    fn failed(why: String) -> Self {
        Self {
            result: Err(why),
            took: Duration::ZERO,
            note: None,
            started: None,
        }
    }
}

/// What the job's cells read before the first of them runs, once per job.
pub(crate) struct Inputs {
    /// The builtins' box scores: every date's history lies within its
    /// season, and one year back covers it.
    index: SeasonIndex,
    /// The commands' expected entities per date, by the pipeline's own rule
    /// (SQL over its universe).
    expected_entities: BTreeMap<NaiveDate, Vec<String>>,
}

impl Inputs {
    pub(crate) async fn gather(
        wh: &dyn Warehouse,
        cells: &[PlannedCell],
    ) -> Result<Self, EngineError> {
        let pipeline = wh.pipeline();
        let (mut box_scores, mut entities) = (false, false);
        for c in cells {
            match pipeline.spec(c.processor).runner {
                Runner::Builtin(_) => box_scores = true,
                Runner::Command(_) => entities = true,
                Runner::Observe | Runner::Rerun(_) => {}
            }
        }
        let (first, last) = (
            cells.iter().map(|c| c.date).min().unwrap_or(NaiveDate::MIN),
            cells.iter().map(|c| c.date).max().unwrap_or(NaiveDate::MIN),
        );
        let (games, schedule) = if box_scores {
            wh.player_games(first - Days::days(366), last).await?
        } else {
            Default::default()
        };
        let mut expected_entities: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
        if entities {
            let range = DateRange::new(first, last, i64::MAX)?;
            for (date, entity) in wh.expected_entities(range).await? {
                expected_entities.entry(date).or_default().push(entity);
            }
        }
        Ok(Self {
            index: SeasonIndex::new(games, &schedule),
            expected_entities,
        })
    }
}

/// One batch of cells being run: the commands' outcomes, computed ahead.
pub(crate) struct Batch<'a> {
    wh: &'a dyn Warehouse,
    inputs: &'a Inputs,
    commanded: HashMap<(ProcessorId, NaiveDate), Outcome>,
}

impl<'a> Batch<'a> {
    /// Runs the batch's commands first, each over its dates of the batch in
    /// runs of up to its `batch_dates` (they read no outcome of Rollcall's).
    /// `None` when the job is cancelled meanwhile: the command running then
    /// is stopped with what it started, and the batch is left as it was.
    /// A team's re-run programs run here too, over their cells' days;
    /// each line they print goes to `on_line`. (A job with such a program
    /// runs processor by processor, so its upstreams are written by then:
    /// `JobRun::run` in backfill/run.rs.)
    pub(crate) async fn run(
        wh: &'a dyn Warehouse,
        inputs: &'a Inputs,
        batch: &[PlannedCell],
        cancel: &AtomicBool,
        on_line: &(dyn Fn(String) + Sync),
    ) -> Option<Batch<'a>> {
        let mut commanded =
            run_commands(wh.pipeline(), batch, &inputs.expected_entities, cancel).await?;
        commanded.extend(run_reruns(wh.pipeline(), batch, cancel, on_line).await?);
        Some(Batch {
            wh,
            inputs,
            commanded,
        })
    }

    /// The cell's outcome: a command's was computed with its batch; a
    /// builtin computes now, reading `written` for what this job wrote
    /// today and the store for the rest.
    pub(crate) async fn cell(&mut self, cell: &PlannedCell, written: &WrittenToday) -> Outcome {
        let pipeline = self.wh.pipeline();
        let spec = pipeline.spec(cell.processor);
        match spec.runner {
            Runner::Builtin(b) => {
                let started = Instant::now();
                let out = builtin::run(self.wh, b, &self.inputs.index, cell, written).await;
                Outcome {
                    result: out.map(Some).map_err(|e| e.to_string()),
                    took: started.elapsed(),
                    note: None,
                    started: None,
                }
            }
            Runner::Command(_) | Runner::Rerun(_) => self
                .commanded
                .remove(&(cell.processor, cell.date))
                .unwrap_or_else(|| {
                    Outcome::failed(format!(
                        "{} {}: the {} gave no outcome",
                        spec.code,
                        cell.date,
                        if spec.runner.rerun().is_some() {
                            "re-run program"
                        } else {
                            "command"
                        }
                    ))
                }),
            Runner::Observe => Outcome::failed(format!(
                "{} is observed: another system writes {}",
                spec.code, spec.output_table
            )),
        }
    }
}

/// The batch's command cells, run: per command processor its dates of the
/// batch, in runs of up to its `batch_dates`, each date handed its expected
/// entities. A run that fails fails each of its cells with its message. Each
/// date of one run gets its share of the run's time.
async fn run_commands(
    pipeline: &Pipeline,
    batch: &[PlannedCell],
    expected_entities: &BTreeMap<NaiveDate, Vec<String>>,
    cancel: &AtomicBool,
) -> Option<HashMap<(ProcessorId, NaiveDate), Outcome>> {
    let mut out = HashMap::new();
    let mut dates: BTreeMap<ProcessorId, Vec<NaiveDate>> = BTreeMap::new();
    for c in batch {
        if pipeline.spec(c.processor).runner.command().is_some() {
            dates.entry(c.processor).or_default().push(c.date);
        }
    }
    for (p, mut days) in dates {
        let spec = pipeline.spec(p);
        let per_run = spec.runner.command().map_or(1, |c| c.batch_dates.max(1));
        days.sort();
        for run in days.chunks(per_run) {
            let handed: Vec<(NaiveDate, Vec<&str>)> = run
                .iter()
                .map(|d| {
                    let entities = expected_entities
                        .get(d)
                        .map(|v| v.iter().map(String::as_str).collect())
                        .unwrap_or_default();
                    (*d, entities)
                })
                .collect();
            let run_started = Instant::now();
            // A command may run for minutes: a cancel (or a server shutting
            // down) does not wait for it.
            let result = tokio::select! {
                result = command::run_batch(spec, &handed, &pipeline.directory) => result,
                () = cancelled(cancel) => return None,
            };
            let share = run_started.elapsed() / run.len().max(1) as u32;
            match result {
                Ok(ran) => {
                    for cell in ran.cells {
                        let date = cell.date;
                        let outcome = Outcome {
                            result: Ok(Some(cell)),
                            took: share,
                            note: ran.note.clone(),
                            started: None,
                        };
                        out.insert((p, date), outcome);
                    }
                }
                Err(e) => {
                    let message = run_failed(e, run.len(), "dates");
                    for d in run {
                        let outcome = Outcome {
                            took: share,
                            ..Outcome::failed(message.clone())
                        };
                        out.insert((p, *d), outcome);
                    }
                }
            }
        }
    }
    Some(out)
}

/// The batch's cells of observed processors that declare a `rerun`
/// program: per processor its days of the batch as runs of consecutive
/// days (`rerun_batch_days`), in the pipeline's order. A run that exits 0
/// is each of its cells' checkpoint; one that fails fails them all.
async fn run_reruns(
    pipeline: &Pipeline,
    batch: &[PlannedCell],
    cancel: &AtomicBool,
    on_line: &(dyn Fn(String) + Sync),
) -> Option<HashMap<(ProcessorId, NaiveDate), Outcome>> {
    let mut out = HashMap::new();
    let mut days: BTreeMap<ProcessorId, Vec<NaiveDate>> = BTreeMap::new();
    for c in batch {
        if pipeline.spec(c.processor).runner.rerun().is_some() {
            days.entry(c.processor).or_default().push(c.date);
        }
    }
    for (p, mut days) in days {
        let spec = pipeline.spec(p);
        let Some(program) = spec.runner.rerun() else {
            continue;
        };
        days.sort();
        days.dedup();
        for span in rerun::spans(&days, program.batch_dates) {
            on_line(format!(
                "{}: {} {}",
                spec.code,
                program.program,
                rerun::fill(&program.args, &span).join(" ")
            ));
            let started = Instant::now();
            let started_at = chrono::Utc::now().naive_utc();
            let result = tokio::select! {
                result = rerun::run_span(spec, program, &span, &pipeline.directory, on_line) => result,
                () = cancelled(cancel) => return None,
            };
            let share = started.elapsed() / span.len().max(1) as u32;
            let (result, note) = match result {
                Ok(note) => (Ok(None), note),
                Err(e) => (Err(run_failed(e, span.len(), "days")), None),
            };
            for day in &span {
                out.insert(
                    (p, *day),
                    Outcome {
                        result: result.clone(),
                        took: share,
                        note: note.clone(),
                        started: Some(started_at),
                    },
                );
            }
        }
    }
    Some(out)
}

/// Why each cell of a failed run of `n` of them failed.
fn run_failed(e: command::CommandError, n: usize, unit: &str) -> String {
    match n {
        1 => EngineError::from(e).to_string(),
        n => format!("{} (one run over {n} {unit})", EngineError::from(e)),
    }
}

/// Resolves once `cancel` is set (looked at every tenth of a second).
async fn cancelled(cancel: &AtomicBool) {
    while !cancel.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
