//! The exec service: the plugin registry, the wasmtime connector host and its HTTP routes.
//!
//! [`Runtime`] loads connector components and runs each call in a fresh, limited sandbox.
//! The host imports live in [`host`], one module per capability. [`runs`] runs the actions
//! of apps and records every run.

pub mod actions;
mod calls;
pub mod catalog;
mod context;
mod error;
pub mod host;
mod manifest;
pub mod registry;
mod routes;
pub mod runs;
pub mod runtime;
mod state;

pub use context::CallContext;
pub use error::ExecError;
pub use manifest::{Manifest, OperationSpec};
pub use routes::{configure, ExecApi, InvokeRequest, InvokeResponse, PluginResponse};
pub use runtime::{CallReport, CallRequest, LoadedPlugin, RunError, Runtime, RuntimeSettings};
pub use state::{ExecSettings, ExecState};

pub(crate) use runtime::bindings::trellis::connector as runtime_bindings;
