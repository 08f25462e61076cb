//! Read models: what storage returns and what the dashboard and CLI show,
//! one file per view. Plain data, shared by the server and the browser.

mod cell;
mod columns;
mod drawn;
mod grid;
mod jobs;
mod overview;
mod snapshot;
mod trace;

pub use cell::*;
pub use columns::*;
pub use drawn::*;
pub use grid::*;
pub use jobs::*;
pub use overview::*;
pub use snapshot::*;
pub use trace::*;

#[cfg(test)]
mod tests;
