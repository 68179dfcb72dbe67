//! Connector call and load costs, each beside a native baseline measured in the same run.
//!
//! Run with `cargo bench -p trellis-exec --bench runtime`; results are recorded in
//! BENCHMARKS.md.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use trellis_exec::host::kv::KvStore;
use trellis_exec::host::Services;
use trellis_exec::registry::BUILTIN_COMPONENTS;
use trellis_exec::{CallContext, CallRequest, Runtime, RuntimeSettings};
use uuid::Uuid;

fn runtime(cache_dir: Option<PathBuf>) -> Runtime {
    let settings = RuntimeSettings {
        cache_dir,
        ..RuntimeSettings::default()
    };
    Runtime::new(settings, Services::new(KvStore::memory())).unwrap()
}

fn echo_bytes() -> Vec<u8> {
    let (_, bytes) = BUILTIN_COMPONENTS
        .iter()
        .find(|(name, _)| *name == "echo")
        .unwrap();
    bytes.to_vec()
}

/// Does the echo connector's work natively: parses config and input, serializes the output.
fn native_echo(config: &str, input: &str) -> String {
    let _config: Value = serde_json::from_str(config).unwrap();
    let input: Value = serde_json::from_str(input).unwrap();
    serde_json::to_string(&input).unwrap()
}

/// Builds a JSON object of about 1 MiB.
fn one_mib_json() -> Value {
    let rows: Vec<Value> = (0..10_000)
        .map(|index| json!({"id": index, "name": format!("row {index:05}"), "tags": ["a", "b"], "note": "x".repeat(40)}))
        .collect();
    json!({ "rows": rows })
}

fn calls(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = runtime(None);
    let plugin = tokio
        .block_on(runtime.load(Arc::new(echo_bytes())))
        .unwrap();
    let workspace = Uuid::new_v4();

    let noop = CallRequest::Execute {
        config: json!({}),
        operation: "noop".into(),
        input: json!({}),
    };
    let mut group = c.benchmark_group("noop call");
    group.bench_function("wasm: instantiate, call, drop", |b| {
        b.to_async(&tokio).iter(|| async {
            let report = runtime
                .call(&plugin, CallContext::new(workspace, "echo"), &noop)
                .await;
            assert!(report.result.is_ok());
        })
    });
    group.bench_function("native baseline", |b| b.iter(|| native_echo("{}", "{}")));
    group.finish();

    let big = one_mib_json();
    let big_text = big.to_string();
    println!("1 MiB case: input is {} bytes", big_text.len());
    let echo = CallRequest::Execute {
        config: json!({}),
        operation: "echo".into(),
        input: big,
    };
    let mut group = c.benchmark_group("1 MiB JSON echo");
    group.sample_size(30);
    group.bench_function("wasm: instantiate, call, drop", |b| {
        b.to_async(&tokio).iter(|| async {
            let report = runtime
                .call(&plugin, CallContext::new(workspace, "echo"), &echo)
                .await;
            assert!(report.result.is_ok());
        })
    });
    group.bench_function("native baseline", |b| {
        b.iter(|| native_echo("{}", &big_text))
    });
    group.finish();
}

/// Builds the OpenAPI connector without optimization: a real connector of about 2.5 MiB, larger
/// than any release build of the built-in connectors.
fn large_component() -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target_dir = root.join("target/plugins-dev");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--target",
            "wasm32-wasip2",
            "-p",
            "trellis-openapi",
        ])
        .arg("--manifest-path")
        .arg(root.join("plugins/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(target_dir.join("wasm32-wasip2/debug/trellis_openapi.wasm")).unwrap()
}

fn loads(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bytes = Arc::new(large_component());
    println!("load case: component is {} bytes", bytes.len());

    let uncached = runtime(None);
    let cache_dir = tempfile::tempdir().unwrap();
    let cached = runtime(Some(cache_dir.path().to_path_buf()));
    tokio.block_on(cached.load(bytes.clone())).unwrap();

    let mut group = c.benchmark_group("load component");
    group.sample_size(10);
    group.bench_function("first load (compile)", |b| {
        b.to_async(&tokio)
            .iter(|| async { uncached.load(bytes.clone()).await.unwrap() })
    });
    group.bench_function("cached load (deserialize)", |b| {
        b.to_async(&tokio)
            .iter(|| async { cached.load(bytes.clone()).await.unwrap() })
    });
    group.bench_function("native baseline: SHA-256 of the bytes", |b| {
        b.iter_batched(
            || bytes.clone(),
            |bytes| Sha256::digest(bytes.as_slice()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, calls, loads);
criterion_main!(benches);
