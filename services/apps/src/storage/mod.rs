//! Storage of the apps service. Every function on workspace data takes the workspace id, so a
//! query without a tenant cannot be written by accident. The exceptions are named where they
//! are: the public-link lookup and key rotation, which work across workspaces by design.

pub mod actions;
pub mod apps;
pub mod audit;
pub mod entities;
pub mod releases;
pub mod resources;

use sea_orm::{DbErr, SqlErr};

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
