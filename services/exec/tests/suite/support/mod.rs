//! Shared helpers for the exec service's tests: the hostile test components, a runtime,
//! loopback HTTP and HTTPS servers, and the Prism mock server.

#![allow(dead_code)]

pub mod builtin;
pub mod http_server;
pub mod prism;
pub mod tls_server;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use trellis_exec::host::kv::KvStore;
use trellis_exec::host::Services;
use trellis_exec::{CallContext, CallReport, CallRequest, LoadedPlugin, Runtime, RuntimeSettings};

/// Components built from tests/plugins.
pub struct TestComponents {
    pub hostile: Vec<u8>,
    pub other_world: Vec<u8>,
    pub extra_import: Vec<u8>,
}

/// Builds tests/plugins for wasm32-wasip2 once per test process and reads the components.
pub fn components() -> &'static TestComponents {
    static COMPONENTS: OnceLock<TestComponents> = OnceLock::new();
    COMPONENTS.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target_dir = root.join("target/plugins");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(root.join("tests/plugins/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .status()
            .expect("running cargo for the test plugins");
        assert!(
            status.success(),
            "building tests/plugins for wasm32-wasip2 failed"
        );

        let read = |name: &str| {
            let path = target_dir.join("wasm32-wasip2/release").join(name);
            std::fs::read(&path)
                .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
        };
        TestComponents {
            hostile: read("hostile.wasm"),
            other_world: read("other_world.wasm"),
            extra_import: read("extra_import.wasm"),
        }
    })
}

/// Returns the folder of compiled connector artifacts shared by the runtimes of every test: the
/// build folder's `test-artifacts`, beside the test binary's `deps`. Components then compile once
/// per build rather than once per test. Artifacts are keyed by content and engine and written
/// by rename, so test processes may share the folder.
pub fn artifact_cache() -> Option<PathBuf> {
    let binary = std::env::current_exe().expect("the test binary's path");
    let build = binary.parent()?.parent()?;
    Some(build.join("test-artifacts"))
}

/// Returns default runtime settings that use the shared artifact folder.
pub fn runtime_settings() -> RuntimeSettings {
    RuntimeSettings {
        cache_dir: artifact_cache(),
        ..RuntimeSettings::default()
    }
}

/// Builds a runtime with an in-memory key-value store and a small pool.
pub fn runtime() -> Runtime {
    runtime_with(KvStore::memory())
}

/// Builds a runtime with the given key-value store.
pub fn runtime_with(kv: KvStore) -> Runtime {
    let mut settings = runtime_settings();
    settings.engine.max_instances = 64;
    Runtime::new(settings, Services::new(kv)).expect("starting the runtime")
}

/// Loads the hostile component.
pub async fn hostile(runtime: &Runtime) -> Arc<LoadedPlugin> {
    let bytes = components().hostile.clone();
    runtime
        .load(Arc::new(bytes))
        .await
        .expect("loading the hostile component")
}

/// Runs one operation of `plugin` for a fresh workspace.
pub async fn execute(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    call: CallContext,
    operation: &str,
    input: Value,
) -> CallReport {
    let request = CallRequest::Execute {
        config: serde_json::json!({}),
        operation: operation.into(),
        input,
    };
    runtime.call(plugin, call, &request).await
}

/// Runs one operation with the given config.
pub async fn execute_with_config(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    call: CallContext,
    operation: &str,
    config: Value,
    input: Value,
) -> CallReport {
    let request = CallRequest::Execute {
        config,
        operation: operation.into(),
        input,
    };
    runtime.call(plugin, call, &request).await
}
