//! The cross-service suite: one test binary, so the server links once.

mod apps_distributed;
mod apps_lifecycle;
mod apps_resources;
mod apps_role_matrix;
mod distributed;
mod gateway;
mod input;
mod openapi;
mod openapi_actions;
mod rate_limits;
mod readiness;
mod role_matrix;
mod runs;
mod runs_access;
mod runs_changes;
mod runs_distributed;
mod runs_llm;
mod runs_shared_database;
mod sessions;
mod shutdown;
mod tokens;
mod workspaces;
