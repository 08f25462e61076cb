//! Error policy for `domain`: every error here is a *user input* problem (a bad
//! date, an unknown processor, a reversed range). They carry a message fit to show
//! verbatim to the person who typed the input; callers map them to HTTP 400 or to
//! CLI exit code 2 — or, for a command processor's output, they fail its cell
//! with the message on the run row. Nothing in this crate can fail for any
//! other reason.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("{field}: '{value}' is not a date (expected YYYY-MM-DD)")]
    MalformedDate { field: &'static str, value: String },
    /// Neither a range nor a list of dates, or both.
    #[error("dates: give a start and an end date (--start-date and --end-date), or a list of dates (--dates), not both")]
    MissingDates,
    #[error("start date {start} is after end date {end}")]
    ReversedRange { start: String, end: String },
    #[error("range of {days} days is longer than the maximum of {max} days")]
    RangeTooLong { days: i64, max: i64 },
    #[error("unknown processor '{given}' (known: {known})")]
    UnknownProcessor { given: String, known: String },
    /// A request parameter that cannot be used (not a number, out of
    /// bounds, too long).
    #[error("{name}: {message}")]
    BadParameter { name: &'static str, message: String },
    /// A pipeline file that cannot be used (`pipeline::Pipeline::parse`).
    #[error("pipeline file, line {line}, column {column}: {message}")]
    BadPipeline {
        line: usize,
        column: usize,
        message: String,
    },
    /// A command processor printed a line that cannot be taken as written
    /// (`processors::command`): the cell fails, nothing of it is written.
    #[error("stdout line {line}: {message}")]
    BadCommandOutput { line: usize, message: String },
    #[error("line {line}, column {column}: {message}")]
    BadImportRow {
        line: u64,
        column: String,
        message: String,
    },
}
