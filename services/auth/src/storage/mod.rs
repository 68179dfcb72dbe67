//! Storage of the auth service. Every function on workspace data takes the workspace id, so a
//! query without a tenant cannot be written by accident.

pub mod api_keys;
pub mod entities;
pub mod invites;
pub mod member_events;
pub mod members;
pub mod refresh_tokens;
pub mod users;
pub mod workspaces;

use sea_orm::{DbErr, SqlErr};

/// Returns whether a database error is a unique-constraint violation.
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
