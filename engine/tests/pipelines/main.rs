//! The conformance scenarios of pipelines other than the shipped NBA one, in
//! one test binary: each opens both stores with a pipeline value of its own
//! (orders with a universe of its own, an observed table, a command
//! processor, forty processors), so they share a process.

#[path = "../common/mod.rs"]
mod common;

mod adopt;
mod command;
mod observe;
mod orders;
mod wide;
