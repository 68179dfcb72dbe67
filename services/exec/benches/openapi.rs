//! Loading a 5 MB specification in the OpenAPI connector, in the sandbox, beside a native
//! baseline (serde_json parsing the same text).
//!
//! The specification is the Slack Web API (Swagger 2.0, tests/data/openapi) with its paths
//! copied under new prefixes until it passes 5 MB, as JSON and as block-style YAML. A loopback
//! server serves it; each iteration runs a call whose input lacks the operation's required
//! parameter, so the connector fetches the specification, parses it, finds and normalizes the
//! operation, checks the input and stops before any API request.
//!
//! Run with `cargo bench -p trellis-exec --bench openapi`; results are in BENCHMARKS.md.

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use trellis_exec::host::kv::KvStore;
use trellis_exec::host::network::{InternalHost, NetworkPolicy};
use trellis_exec::host::Services;
use trellis_exec::registry::BUILTIN_COMPONENTS;
use trellis_exec::{CallContext, CallRequest, RunError, Runtime, RuntimeSettings};
use uuid::Uuid;

const TARGET_BYTES: usize = 5_000_000;

/// The Slack specification with its paths copied until `size` of it passes 5 MB.
fn large_spec(size: impl Fn(&Value) -> usize) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/openapi/slack-web-api.swagger2.json");
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let original = spec["paths"].as_object().unwrap().clone();
    let mut copy = 1;
    while size(&spec) < TARGET_BYTES {
        let paths = spec["paths"].as_object_mut().unwrap();
        for (path, item) in &original {
            let mut item = item.clone();
            for operation in item.as_object_mut().unwrap().values_mut() {
                if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                    operation["operationId"] = json!(format!("{id}_copy{copy}"));
                }
            }
            paths.insert(format!("/copy{copy}{path}"), item);
        }
        copy += 1;
    }
    spec
}

/// Block-style YAML of a JSON value; strings and keys in double quotes, which YAML reads with
/// JSON's escapes.
fn to_yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                out.push_str(&pad);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                scalar_or_block(item, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                scalar_or_block(item, indent, out);
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&other.to_string());
            out.push('\n');
        }
    }
}

fn scalar_or_block(item: &Value, indent: usize, out: &mut String) {
    let nested = matches!(item, Value::Object(map) if !map.is_empty())
        || matches!(item, Value::Array(items) if !items.is_empty());
    if nested {
        out.push('\n');
        to_yaml(item, indent + 2, out);
    } else {
        out.push(' ');
        out.push_str(&item.to_string());
        out.push('\n');
    }
}

/// Serves `body` to every request on a loopback port.
async fn serve(body: Arc<Vec<u8>>, content_type: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    port
}

fn load(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let runtime =
        Runtime::new(RuntimeSettings::default(), Services::new(KvStore::memory())).unwrap();
    let (_, bytes) = BUILTIN_COMPONENTS
        .iter()
        .find(|(name, _)| *name == "openapi")
        .unwrap();
    let plugin = tokio
        .block_on(runtime.load(Arc::new(bytes.to_vec())))
        .unwrap();

    let yaml = |value: &Value| {
        let mut text = String::new();
        to_yaml(value, 0, &mut text);
        text
    };
    let json_spec = large_spec(|value| value.to_string().len());
    let yaml_spec = large_spec(|value| yaml(value).len());
    let json_text = json_spec.to_string();
    let yaml_text = yaml(&yaml_spec);
    let count = |spec: &Value| {
        spec["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum::<usize>()
    };
    println!(
        "5 MB case: JSON {} bytes with {} operations, YAML {} bytes with {} operations",
        json_text.len(),
        count(&json_spec),
        yaml_text.len(),
        count(&yaml_spec)
    );

    let json_port = tokio.block_on(serve(
        Arc::new(json_text.clone().into_bytes()),
        "application/json",
    ));
    let yaml_port = tokio.block_on(serve(Arc::new(yaml_text.into_bytes()), "application/yaml"));
    let internal = vec![InternalHost::parse("127.0.0.1").unwrap()];
    let workspace = Uuid::new_v4();

    let mut group = c.benchmark_group("load a 5 MB specification");
    group.sample_size(10);
    for (label, port) in [("JSON", json_port), ("YAML", yaml_port)] {
        let config = json!({
            "spec_url": format!("http://127.0.0.1:{port}/spec"),
            "server_url": "http://127.0.0.1:9",
        });
        // chat.postMessage of the third copy, which both documents have.
        let request = CallRequest::Execute {
            config: config.clone(),
            operation: "call".into(),
            input: json!({"operation": format!("chat_postMessage_copy{}", 3), "body": {"text": "x"}}),
        };
        let context = || {
            let mut call = CallContext::new(workspace, "builtin:openapi");
            call.network =
                NetworkPolicy::from_config(&plugin.manifest.base_url_fields, &config, &internal);
            call
        };
        let report = tokio.block_on(runtime.call(&plugin, context(), &request));
        match &report.result {
            Err(RunError::InvalidInput { message }) if message.contains("token") => {}
            other => panic!("{label}: expected the missing token parameter, got {other:?}"),
        }
        group.bench_function(format!("wasm: fetch, parse, find ({label})"), |b| {
            b.to_async(&tokio).iter(|| async {
                let report = runtime.call(&plugin, context(), &request).await;
                assert!(matches!(report.result, Err(RunError::InvalidInput { .. })));
            })
        });
    }
    group.bench_function("native baseline: serde_json parse (JSON)", |b| {
        b.iter(|| serde_json::from_str::<Map<String, Value>>(&json_text).unwrap())
    });
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
