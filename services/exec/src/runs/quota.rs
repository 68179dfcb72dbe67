//! Workspace quotas: runs per minute and LLM tokens per day. A limit of 0 turns its quota off.

use std::time::Duration;

use chrono::{Timelike, Utc};
use uuid::Uuid;

use super::SharedStore;
use crate::ExecError;

/// Quota limits and the counters behind them.
pub struct Quotas {
    store: SharedStore,
    runs_per_minute: u64,
    tokens_per_day: u64,
}

impl Quotas {
    pub fn new(store: SharedStore, runs_per_minute: u64, tokens_per_day: u64) -> Self {
        Quotas {
            store,
            runs_per_minute,
            tokens_per_day,
        }
    }

    /// Counts a run against the workspace's runs per minute, rejecting it past the limit.
    /// When the counter store is unreachable the run is allowed and a warning logged.
    pub async fn check_runs(&self, workspace_id: Uuid) -> Result<(), ExecError> {
        if self.runs_per_minute == 0 {
            return Ok(());
        }
        let now = Utc::now();
        let minute = now.timestamp() / 60;
        let key = format!("quota:runs:{workspace_id}:{minute}");
        let total = match self.store.add(&key, 1, Duration::from_secs(60)).await {
            Ok(total) => total,
            Err(error) => {
                tracing::warn!(%workspace_id, error = %error, "counting runs failed; allowing the run");
                return Ok(());
            }
        };
        if total > self.runs_per_minute {
            return Err(ExecError::QuotaExceeded {
                quota: "runs_per_minute",
                limit: self.runs_per_minute,
                retry_after: u64::from(60 - now.second()),
            });
        }
        Ok(())
    }

    /// Rejects a run when the workspace has used its LLM tokens for the day (UTC).
    pub async fn check_tokens(&self, workspace_id: Uuid) -> Result<(), ExecError> {
        if self.tokens_per_day == 0 {
            return Ok(());
        }
        let now = Utc::now();
        let used = match self.store.count(&tokens_key(workspace_id)).await {
            Ok(used) => used,
            Err(error) => {
                tracing::warn!(%workspace_id, error = %error, "reading token usage failed; allowing the run");
                return Ok(());
            }
        };
        if used >= self.tokens_per_day {
            let seconds_left = 86_400 - u64::from(now.num_seconds_from_midnight());
            return Err(ExecError::QuotaExceeded {
                quota: "llm_tokens_per_day",
                limit: self.tokens_per_day,
                retry_after: seconds_left,
            });
        }
        Ok(())
    }

    /// Adds the tokens a run used to the workspace's count for the day.
    pub async fn add_tokens(&self, workspace_id: Uuid, tokens: u64) {
        let window = Duration::from_secs(2 * 86_400);
        if let Err(error) = self
            .store
            .add(&tokens_key(workspace_id), tokens, window)
            .await
        {
            tracing::warn!(%workspace_id, error = %error, "counting LLM tokens failed");
        }
    }
}

fn tokens_key(workspace_id: Uuid) -> String {
    let day = super::records::day_of(Utc::now());
    format!("quota:tokens:{workspace_id}:{day}")
}
