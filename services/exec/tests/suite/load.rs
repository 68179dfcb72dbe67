//! Loading components: what the host accepts and what it rejects, and the artifact cache.

use std::sync::Arc;

use trellis_exec::host::kv::KvStore;
use trellis_exec::host::Services;
use trellis_exec::runtime::CacheOutcome;
use trellis_exec::{ExecError, Runtime, RuntimeSettings};

use crate::support::{components, runtime};

fn rejection(result: Result<Arc<trellis_exec::LoadedPlugin>, ExecError>) -> String {
    match result {
        Err(ExecError::InvalidComponent(message)) => message,
        Err(other) => panic!("expected a rejection, got {other:?}"),
        Ok(_) => panic!("expected a rejection, the component loaded"),
    }
}

#[tokio::test]
async fn hostile_component_describes_itself() {
    let runtime = runtime();
    let plugin = runtime
        .load(Arc::new(components().hostile.clone()))
        .await
        .unwrap();

    assert_eq!(plugin.manifest.id, "hostile");
    assert_eq!(
        plugin.manifest.base_url_fields,
        vec!["base_url".to_string()]
    );
    assert!(plugin.manifest.operation("spin").is_some());
    assert_eq!(plugin.content_hash.len(), 64);
}

#[tokio::test]
async fn non_wasm_file_is_rejected() {
    let message = rejection(
        runtime()
            .load(Arc::new(b"#!/bin/sh\necho hi\n".to_vec()))
            .await,
    );
    assert!(message.contains("not a WebAssembly binary"), "{message}");
}

#[tokio::test]
async fn core_module_is_rejected() {
    // The smallest valid core module: magic and version 1.
    let module = b"\0asm\x01\0\0\0".to_vec();
    let message = rejection(runtime().load(Arc::new(module)).await);
    assert!(
        message.contains("core WebAssembly module, not a component"),
        "{message}"
    );
}

#[tokio::test]
async fn truncated_component_is_rejected() {
    let mut bytes = components().hostile.clone();
    bytes.truncate(bytes.len() / 2);
    let message = rejection(runtime().load(Arc::new(bytes)).await);
    assert!(message.contains("malformed or truncated"), "{message}");
}

#[tokio::test]
async fn component_of_another_world_is_rejected() {
    let bytes = components().other_world.clone();
    let message = rejection(runtime().load(Arc::new(bytes)).await);
    assert!(
        message.contains("does not implement the trellis:connector"),
        "{message}"
    );
}

#[tokio::test]
async fn component_with_ungranted_import_is_rejected() {
    let bytes = components().extra_import.clone();
    let message = rejection(runtime().load(Arc::new(bytes)).await);
    assert!(
        message.contains("imports that connectors are not granted"),
        "{message}"
    );
    assert!(message.contains("test:extra/secrets"), "{message}");
}

#[tokio::test]
async fn second_load_uses_cached_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let settings = RuntimeSettings {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeSettings::default()
    };
    let runtime = Runtime::new(settings, Services::new(KvStore::memory())).unwrap();
    let bytes = Arc::new(components().hostile.clone());

    let first = runtime.load(bytes.clone()).await.unwrap();
    let second = runtime.load(bytes).await.unwrap();

    assert_eq!(first.cache, CacheOutcome::Compiled);
    assert_eq!(second.cache, CacheOutcome::Cached);
    assert_eq!(first.manifest, second.manifest);
    let artifacts = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(artifacts, 1);
}
