//! The `trellis` binary's library: settings, keys, databases and servers for every way of
//! running the platform.

pub mod database;
pub mod keys;
pub mod openapi;
pub mod server;

pub use server::{bind, start, start_with_catalog, Role, Running};
