//! The `rollcall` binary: bad input exits non-zero with one line and writes nothing.
//!
//! One test binary (`cargo test -p server --test cli`), a module per concern:
//! bad input, validate and backfill, imports, beside a running server,
//! pipeline files. `common` runs the binary.

mod ack;
mod bad_input;
mod common;
mod import;
mod in_place;
mod orchestrators;
mod pipelines;
mod served;
mod snapshot;
mod validate;
mod watch;
