//! The `Warehouse` trait: the only way any Rollcall component reaches data.
//! Implementations live in their own crates (`warehouse_embedded`,
//! `warehouse_bigquery`) and are chosen once at start-up as an `Arc<dyn Warehouse>`.
//! A store implements running a query ([`QueryPort`]), its writes, its jobs
//! and its DDL; the reads over the shared SQL are written once, in
//! [`reads`], and are the trait's default methods.

pub mod accounting;
mod error;
pub mod load;
pub mod reads;
pub mod record;
pub mod rows;
pub mod sql;
mod types;

pub use error::WarehouseError;
pub use load::{ChunksInMemory, LoadRows, LoadSource, LoadTally, GAME_KEY_COLUMNS};
pub use reads::QueryPort;
pub use rows::{Cell, ResultSet, RowSink};
pub use types::*;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime};
use domain::game::{PlayerGame, ScheduledGame};
use domain::pipeline::{Pipeline, UniverseRow};
use domain::processors::UpstreamSet;
use domain::report::{FailureRow, Page, PlayerTrace, RunInfo};
use domain::{DateRange, ProcessorId};

pub type Result<T> = std::result::Result<T, WarehouseError>;

#[async_trait]
pub trait Warehouse: QueryPort + Send + Sync + 'static {
    /// The pipeline whose tables this store holds (it was opened with it):
    /// what every `ProcessorId` it takes or returns is a position in.
    fn pipeline(&self) -> &Arc<Pipeline>;

    /// Which backend this is and whether it answers.
    async fn status(&self) -> Result<WarehouseStatus>;

    /// Per game date in the range: games, box-score rows and expected players
    /// (active, with minutes or shot attempts — docs/DESIGN.md §1).
    async fn game_dates(&self, range: DateRange) -> Result<Vec<GameDateSummary>> {
        reads::game_dates(self, range).await
    }

    /// Row counts of every Rollcall table within the range (by each table's date column).
    async fn table_counts(&self, range: DateRange) -> Result<Vec<TableCount>> {
        reads::table_counts(self, range).await
    }

    // ---- upstream -------------------------------------------------------------

    /// Replaces the upstream tables' rows for the dates the source's rows
    /// bring, each table only for its own dates, pulling the rows chunk by
    /// chunk (bounded memory) and writing all of them or none: a source
    /// that fails, or a box-score row repeating a player and game
    /// ([`WarehouseError::Repeated`]), leaves the store as it was. Loading
    /// the same rows twice leaves what loading them once does. Universe
    /// rows are refused for the NBA box scores, which load as games.
    async fn load_rows(&self, source: Box<dyn LoadSource>) -> Result<UpstreamLoad>;

    /// [`Warehouse::load_rows`] of rows in memory.
    async fn load_upstream_rows(
        &self,
        schedule: Vec<ScheduledGame>,
        games: Vec<PlayerGame>,
    ) -> Result<UpstreamLoad> {
        self.load_rows(ChunksInMemory::new(vec![
            LoadRows::Schedule(schedule),
            LoadRows::Games(games),
        ]))
        .await
    }

    /// [`Warehouse::load_rows`] of the pipeline's own universe rows in memory.
    async fn load_universe(&self, rows: Vec<UniverseRow>) -> Result<UpstreamLoad> {
        self.load_rows(ChunksInMemory::new(vec![LoadRows::Universe(rows)]))
            .await
    }

    /// The expected entities per date of the range (the pipeline's
    /// `expected` rule over its universe), by date then entity, each once:
    /// what a command processor is handed.
    async fn expected_entities(&self, range: DateRange) -> Result<Vec<(NaiveDate, String)>> {
        reads::expected_entities(self, range).await
    }

    /// Runs the pipeline's `expected` condition over its universe table (a
    /// typo in it fails here, with the store's message).
    async fn check_expected(&self) -> Result<()> {
        reads::check_expected(self).await
    }

    /// Reads every column `[read.failures]`/`[read.runs]` maps from the
    /// team's tables (no rows): a missing one is `WarehouseError::Mapped`.
    async fn check_read_tables(&self) -> Result<()> {
        reads::check_read_tables(self).await
    }

    /// Box-score rows and schedule rows with `game_date` in `from..=to`.
    async fn player_games(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<PlayerGame>, Vec<ScheduledGame>)> {
        reads::player_games(self, from, to).await
    }

    // ---- processor outputs ---------------------------------------------------

    /// What `processors` left for `date` (records and player-level failures),
    /// as the downstream processors read it.
    async fn upstream_outcomes(
        &self,
        date: NaiveDate,
        processors: &[ProcessorId],
    ) -> Result<UpstreamSet> {
        reads::upstream_outcomes(self, date, processors).await
    }

    /// Idempotent write of one (processor, date) cell, atomically: replace the
    /// date's output rows; replace the processor's failure rows for the date
    /// (always, even with zero new failures — unless `legacy`); append the run
    /// row, which is also the job's checkpoint for the cell.
    async fn write_cell(&self, write: CellWrite) -> Result<()> {
        self.write_cells(vec![write]).await
    }

    /// [`Warehouse::write_cell`] for many cells at once, all or nothing: either
    /// every cell of the batch is replaced or none is. Applying the same batch
    /// twice leaves what applying it once does.
    async fn write_cells(&self, writes: Vec<CellWrite>) -> Result<()>;

    /// How many cells the engine should hand to one [`Warehouse::write_cells`]
    /// (a store whose every statement is a remote job wants many).
    fn write_batch(&self) -> WriteBatch {
        WriteBatch::default()
    }

    /// Records a run that could not write (the cell keeps its old rows).
    async fn record_failed_run(&self, run: RunRow, job_id: Option<String>) -> Result<()> {
        let _ = job_id;
        self.record_runs(vec![run]).await
    }

    /// Appends run rows without a cell write (one request): runs that could
    /// not write, and the runs of a team's program that wrote its own
    /// tables (`Runner::Rerun`). Applying it twice appends them once.
    async fn record_runs(&self, runs: Vec<RunRow>) -> Result<()>;

    /// Per (processor, date): expected, records, player failures for expected
    /// players, date-level failure, investigate failures, runs. Set-based.
    async fn cell_counts(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
    ) -> Result<Vec<CellCounts>> {
        reads::cell_counts(self, range, processors).await
    }

    /// (processor, date, player) for every expected player of the selected cells
    /// with neither a record nor any failure. Set-based.
    async fn unaccounted(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
    ) -> Result<Vec<(ProcessorId, NaiveDate, String)>> {
        reads::unaccounted(self, range, processors).await
    }

    /// The unaccounted players of one cell matching the filter's search
    /// (the same search as [`Warehouse::failure_rows`]'), paged.
    async fn unaccounted_players(
        &self,
        processor: ProcessorId,
        date: NaiveDate,
        filter: PlayerFilter,
    ) -> Result<Page<String>> {
        reads::unaccounted_players(self, processor, date, &filter).await
    }

    /// The cell's failure rows, optionally filtered by canonical category and
    /// by a player substring, paginated.
    async fn failure_rows(
        &self,
        processor: ProcessorId,
        date: NaiveDate,
        filter: FailureFilter,
    ) -> Result<Page<FailureRow>> {
        reads::failure_rows(self, processor, date, &filter).await
    }

    /// The runs that wrote the cell, newest first.
    /// Every cell's failure rows over a range in one read: per cell with
    /// any, its first `cap` entity rows (with their total) and its
    /// date-level row (what a snapshot freezes).
    #[allow(clippy::type_complexity)]
    async fn failure_rows_in_range(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
        cap: i64,
    ) -> Result<Vec<(ProcessorId, NaiveDate, Page<FailureRow>, Option<FailureRow>)>> {
        reads::failure_rows_in_range(self, range, processors, cap).await
    }

    async fn cell_runs(&self, processor: ProcessorId, date: NaiveDate) -> Result<Vec<RunInfo>> {
        reads::cell_runs(self, processor, date).await
    }

    /// One player on one date across every processor; `None` if the player has
    /// no box-score row at all.
    async fn player_trace(&self, player: &str, date: NaiveDate) -> Result<Option<PlayerTrace>> {
        let Some(mut trace) = reads::player_trace(self, player, date).await? else {
            return Ok(None);
        };
        // Box scores are the NBA universe's; another universe has none.
        if self.pipeline().universe.is_nba() {
            trace.recent_games = self.recent_box_scores(player, date).await?;
        }
        Ok(Some(trace))
    }

    /// The player's last ten box scores up to the date, newest first: a
    /// read of the NBA box scores' own typed table.
    async fn recent_box_scores(&self, player: &str, date: NaiveDate) -> Result<Vec<PlayerGame>> {
        reads::recent_box_scores(self, player, date).await
    }

    // ---- jobs and checkpoints -----------------------------------------------

    /// Creates a job with its pending cells. A job created `running` is refused
    /// (`Conflict`, nothing written) when another running job still has any of
    /// these cells pending; a `queued` one waits its turn and is checked by
    /// [`Warehouse::start_job`].
    async fn create_job(&self, job: JobRecord, cells: Vec<(ProcessorId, NaiveDate)>) -> Result<()>;

    /// Moves a job to `running` (started now, error cleared), refusing
    /// (`Conflict`) while another running job has any of its unfinished cells
    /// pending. Check and transition are one atomic step.
    async fn start_job(&self, id: &str) -> Result<JobRecord>;

    /// One job, with its before/after snapshot.
    async fn job(&self, id: &str) -> Result<Option<JobRecord>>;

    /// Jobs, newest first, without their snapshots (`snapshot: None`): the
    /// list is what every dashboard polls, and a season job's snapshot is
    /// hundreds of kilobytes. [`Warehouse::job`] has it.
    async fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>>;

    async fn job_cells(&self, id: &str) -> Result<Vec<JobCell>>;

    /// Updates state, progress, error and timestamps of a job.
    async fn update_job(&self, job: &JobRecord) -> Result<()>;

    /// Renews a running job's lease: the job's process is alive at `at`.
    async fn heartbeat(&self, id: &str, at: NaiveDateTime) -> Result<()>;

    /// Marks `running` jobs as `interrupted` whose lease was last renewed (or
    /// which started, if never renewed) before `stale_before`: their process
    /// is gone. `None` marks every running job (a store locked by this process
    /// cannot have a live job elsewhere). Returns how many.
    async fn interrupt_stale_jobs(&self, stale_before: Option<NaiveDateTime>) -> Result<usize>;

    // ---- watching (issue [M]) -----------------------------------------------------

    /// [`Warehouse::cell_counts`] with who is open in each cell as a
    /// fingerprinted set (`domain::watch::OpenSet`), in one statement;
    /// acknowledgements as in force at `at` (an evaluation's clock).
    async fn watched_cell_counts(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
        at: NaiveDateTime,
    ) -> Result<(Vec<domain::report::CellCounts>, reads::OpenSets)> {
        reads::watched_cell_counts(self, range, processors, at).await
    }

    /// The expected entities of the range missing a record of one of
    /// `processors`, with their marks (one statement); acknowledgements as
    /// in force at `at`.
    async fn open_entities(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
        at: NaiveDateTime,
    ) -> Result<Vec<sql::OpenEntityRow>> {
        reads::open_entities(self, range, processors, at).await
    }

    /// Keeps an evaluation and its cells in one write (applying it twice
    /// keeps it once), deleting evaluations whose `as_of` is before
    /// `keep_since`. A cell with a `names_key` and its `entities` read keeps
    /// them under that key (replacing the same list); one with a key and no
    /// names keeps only the key (the list is the store's already). Lists no
    /// kept cell refers to any more are deleted.
    async fn record_evaluation(
        &self,
        evaluation: EvaluationRecord,
        cells: Vec<domain::watch::WatchedCell>,
        keep_since: NaiveDateTime,
    ) -> Result<()>;

    /// The evaluation run last, if any.
    async fn latest_evaluation(&self) -> Result<Option<EvaluationRecord>> {
        reads::latest_evaluation(self).await
    }

    /// The cells an evaluation kept, with their lists of names.
    async fn evaluation_cells(&self, id: &str) -> Result<Vec<domain::watch::WatchedCell>> {
        reads::evaluation_cells(self, id, true).await
    }

    /// The cells an evaluation kept, a list of names only where the row
    /// holds it (kept before sets had keys): the others have their
    /// `names_key`, for [`Warehouse::entity_lists`].
    async fn evaluation_cells_by_key(&self, id: &str) -> Result<Vec<domain::watch::WatchedCell>> {
        reads::evaluation_cells(self, id, false).await
    }

    /// The kept lists of names with these keys (unknown keys are left out).
    async fn entity_lists(&self, keys: &[String]) -> Result<Vec<(String, Vec<String>)>> {
        reads::entity_lists(self, keys).await
    }

    /// Evaluations run at or after `since`, newest first, at most `limit`.
    async fn evaluations_since(
        &self,
        since: NaiveDateTime,
        limit: usize,
    ) -> Result<Vec<EvaluationRecord>> {
        reads::evaluations_since(self, since, limit).await
    }

    /// Cells that opened, got worse or resolved in evaluations run at or
    /// after `since`, each with its evaluation's id; newest first, at most `limit`.
    async fn news_since(
        &self,
        since: NaiveDateTime,
        limit: usize,
    ) -> Result<Vec<(String, domain::watch::WatchedCell)>> {
        reads::news_since(self, since, limit).await
    }

    /// Logs one alert delivery (applying it twice logs it once).
    async fn record_delivery(&self, delivery: DeliveryRecord) -> Result<()>;

    /// The latest alert deliveries, newest first.
    async fn deliveries(&self, limit: usize) -> Result<Vec<DeliveryRecord>> {
        reads::deliveries(self, limit).await
    }

    // ---- acknowledgements (issue [N]) ---------------------------------------------

    /// Keeps acknowledgements (one kept again by id replaces itself).
    async fn record_acknowledgements(&self, acks: Vec<domain::ack::Acknowledgement>) -> Result<()>;

    /// Ends the acknowledgements of `ids` not ended yet, at `at`, by `by`,
    /// for `end`; how many it ended (ending one twice ends it once).
    async fn end_acknowledgements(
        &self,
        ids: Vec<String>,
        at: NaiveDateTime,
        by: String,
        end: domain::ack::AckEnd,
    ) -> Result<usize>;

    /// Kept acknowledgements, newest first (at most `limit`): those in force
    /// or all, of one cell or every one.
    async fn acknowledgements(
        &self,
        scope: sql::AckScope,
        cell: Option<(ProcessorId, NaiveDate)>,
        limit: usize,
    ) -> Result<Vec<domain::ack::Acknowledgement>> {
        reads::acknowledgements(self, scope, cell, limit).await
    }

    async fn acknowledgement(&self, id: &str) -> Result<Option<domain::ack::Acknowledgement>> {
        reads::acknowledgement(self, id).await
    }

    /// Acknowledgements in force over the range whose entity's state
    /// changed since they were made (`sql::changed_acknowledgements`).
    async fn changed_acknowledgements(&self, range: DateRange) -> Result<Vec<String>> {
        reads::changed_acknowledgements(self, range).await
    }

    // ---- snapshots (issue [O]) ------------------------------------------------------

    /// Keeps a snapshot's row and body; kept again by id, it replaces
    /// itself (a retried write leaves one).
    async fn record_snapshot(&self, meta: domain::report::SnapshotMeta, body: String)
        -> Result<()>;

    /// Deletes the snapshots taken before `before` (retention); how many.
    async fn delete_snapshots_before(&self, before: NaiveDateTime) -> Result<usize>;

    /// The newest snapshots, without their bodies (at most `limit`).
    async fn snapshots(&self, limit: usize) -> Result<Vec<domain::report::SnapshotMeta>> {
        reads::snapshots(self, limit).await
    }

    /// One snapshot and its body.
    async fn snapshot(&self, id: &str) -> Result<Option<(domain::report::SnapshotMeta, String)>> {
        reads::snapshot(self, id).await
    }

    /// Takes the one evaluator's lease until `until` if it is free, expired
    /// (before `now`) or `holder`'s: whether `holder` holds it.
    async fn take_evaluator_lease(
        &self,
        holder: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<bool>;

    /// Gives the lease back (if `holder` still has it).
    async fn release_evaluator_lease(&self, holder: &str) -> Result<()>;
}
