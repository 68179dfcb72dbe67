//! Tests that run the `trellis` binary as separate processes.

mod large_results;
mod scenario;
mod shutdown;
mod support;
