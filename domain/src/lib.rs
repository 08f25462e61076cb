//! Rollcall's pure core. Nothing in this crate performs IO: no files, no network,
//! no database. Storage reads inputs, the functions here compute, storage writes
//! outcomes. That keeps every rule unit-testable with hand-built values.

pub mod ack;
pub mod dates;
pub mod demo;
pub mod display;
pub mod error;
pub mod failure;
pub mod game;
pub mod params;
pub mod pipeline;
pub mod processor;
pub mod processors;
pub mod reconcile;
pub mod report;
pub mod watch;

pub use dates::{DateRange, DEFAULT_MAX_RANGE_DAYS};
pub use error::DomainError;
pub use failure::{FailureCategory, FailureLevel};
pub use processor::{Builtin, ProcessorId, ProcessorSpec, Runner};
