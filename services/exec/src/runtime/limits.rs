//! Per-call resource limits and the limiter that records which one fired.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Limits that apply to one call of a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Linear memory across all of the component's memories, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock time for the whole call, host calls included.
    pub deadline: Duration,
    /// Config plus input JSON, in bytes.
    pub max_input_bytes: usize,
    /// Output JSON, in bytes.
    pub max_output_bytes: usize,
    /// Log lines kept per call; further lines are counted and dropped.
    pub max_log_lines: usize,
    /// Bytes of one log line; longer lines are cut.
    pub max_log_line_bytes: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            memory_bytes: 64 << 20,
            deadline: Duration::from_secs(10),
            max_input_bytes: 4 << 20,
            max_output_bytes: 16 << 20,
            max_log_lines: 200,
            max_log_line_bytes: 2048,
        }
    }
}

/// The limit that ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Memory,
    Table,
    Stack,
    Deadline,
    Input,
    Output,
    Concurrency,
    /// A limit the connector itself reported, such as a host import's size cap.
    Reported,
}

impl Limit {
    /// Lowercase name used in messages and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Memory => "memory",
            Limit::Table => "table",
            Limit::Stack => "stack",
            Limit::Deadline => "deadline",
            Limit::Input => "input size",
            Limit::Output => "output size",
            Limit::Concurrency => "concurrency",
            Limit::Reported => "connector-reported",
        }
    }
}

/// Most table elements one call may allocate.
const MAX_TABLE_ELEMENTS: usize = 20_000;

/// Keeps one byte budget across all memories of a store and records the first denial, because
/// a guest that fails to grow memory traps with a bare `unreachable` that names no cause.
#[derive(Debug)]
pub struct Limiter {
    memory_budget: usize,
    memory_used: usize,
    fired: Option<Limit>,
}

impl Limiter {
    /// Creates a limiter that allows `memory_budget` bytes of linear memory in total.
    pub fn new(memory_budget: usize) -> Self {
        Limiter {
            memory_budget,
            memory_used: 0,
            fired: None,
        }
    }

    /// Returns the limit that denied a growth during this call, if any.
    pub fn fired(&self) -> Option<Limit> {
        self.fired
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let within_module_maximum = maximum.is_none_or(|maximum| desired <= maximum);
        if !within_module_maximum || self.memory_used + growth > self.memory_budget {
            self.fired.get_or_insert(Limit::Memory);
            return Ok(false);
        }
        self.memory_used += growth;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let within_module_maximum = maximum.is_none_or(|maximum| desired <= maximum);
        if !within_module_maximum || desired > MAX_TABLE_ELEMENTS {
            self.fired.get_or_insert(Limit::Table);
            return Ok(false);
        }
        Ok(true)
    }
}
