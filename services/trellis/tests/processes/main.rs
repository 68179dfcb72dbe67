//! Tests that run the `trellis` binary as separate processes.

mod scenario;
mod shutdown;
mod support;
