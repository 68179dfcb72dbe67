//! The `log` import: lines go to tracing with the workspace, plugin and run ids, and are kept
//! for the caller. A token bucket rate-limits each call; excess lines are counted and dropped.

use std::time::Instant;

use serde::Serialize;
use utoipa::ToSchema;

use crate::runtime::{CallLimits, HostState};
use crate::runtime_bindings::log::{Host, Level};

/// Lines per second a call may log once its burst is spent.
const LINES_PER_SECOND: f64 = 50.0;

/// One line a connector logged.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    pub message: String,
    /// Milliseconds since the call started.
    pub at_ms: u64,
}

/// The lines of one call and its rate limiter.
#[derive(Debug)]
pub struct CallLog {
    started: Instant,
    lines: Vec<LogLine>,
    dropped: u64,
    max_lines: usize,
    max_line_bytes: usize,
    tokens: f64,
    burst: f64,
    refilled_at: Instant,
}

impl CallLog {
    pub(crate) fn new(limits: &CallLimits) -> Self {
        let now = Instant::now();
        let burst = limits.max_log_lines.min(100) as f64;
        CallLog {
            started: now,
            lines: Vec::new(),
            dropped: 0,
            max_lines: limits.max_log_lines,
            max_line_bytes: limits.max_log_line_bytes,
            tokens: burst,
            burst,
            refilled_at: now,
        }
    }

    /// Takes the kept lines and the count of dropped ones.
    pub(crate) fn take(&mut self) -> (Vec<LogLine>, u64) {
        (std::mem::take(&mut self.lines), self.dropped)
    }

    /// Keeps a line if the call's budget allows, cutting it to the line limit.
    fn admit(&mut self, level: &'static str, mut message: String) -> Option<&LogLine> {
        let now = Instant::now();
        let refill = now.duration_since(self.refilled_at).as_secs_f64() * LINES_PER_SECOND;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.refilled_at = now;

        if self.tokens < 1.0 || self.lines.len() >= self.max_lines {
            self.dropped += 1;
            return None;
        }
        self.tokens -= 1.0;

        if message.len() > self.max_line_bytes {
            let mut cut = self.max_line_bytes;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let at_ms = now.duration_since(self.started).as_millis() as u64;
        self.lines.push(LogLine {
            level,
            message,
            at_ms,
        });
        self.lines.last()
    }
}

impl Host for HostState {
    async fn log(&mut self, level: Level, message: String) {
        let name = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        let Some(line) = self.log.admit(name, message) else {
            return;
        };

        let workspace_id = self.call.workspace_id;
        let run_id = self.call.run_id;
        let plugin = &self.call.plugin;
        let message = &line.message;
        match level {
            Level::Trace | Level::Debug => {
                tracing::debug!(%workspace_id, %run_id, %plugin, message, "connector log")
            }
            Level::Info => {
                tracing::info!(%workspace_id, %run_id, %plugin, message, "connector log")
            }
            Level::Warn => {
                tracing::warn!(%workspace_id, %run_id, %plugin, message, "connector log")
            }
            Level::Error => {
                tracing::error!(%workspace_id, %run_id, %plugin, message, "connector log")
            }
        }
    }
}
