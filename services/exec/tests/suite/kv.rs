//! The `kv` import: data is scoped to workspace and plugin, on Redis and in memory.

use serde_json::json;
use trellis_exec::host::kv::KvStore;
use trellis_exec::{CallContext, Runtime};
use uuid::Uuid;

use crate::support::{execute, hostile, runtime_with};

const REDIS_URL: &str = "redis://127.0.0.1:6379";

async fn fifty_calls_see_only_their_workspace(runtime: Runtime) {
    let plugin = hostile(&runtime).await;
    let workspaces = [Uuid::new_v4(), Uuid::new_v4()];

    let calls = (0..50).map(|index| {
        let runtime = &runtime;
        let plugin = &plugin;
        async move {
            let workspace = workspaces[index % 2];
            let key = format!("key-{}", index / 2);
            let value = format!("{workspace}-{index}");
            let set = execute(
                runtime,
                plugin,
                CallContext::new(workspace, "hostile"),
                "kv-set",
                json!({"key": key, "value": value}),
            )
            .await;
            assert_eq!(set.result, Ok(json!(null)));
            let got = execute(
                runtime,
                plugin,
                CallContext::new(workspace, "hostile"),
                "kv-get",
                json!({"key": key}),
            )
            .await;
            assert_eq!(
                got.result,
                Ok(json!(value)),
                "call {index} read another value"
            );
        }
    });
    futures_util::future::join_all(calls).await;

    // Each workspace reads back only the values it wrote itself.
    for (slot, workspace) in workspaces.iter().enumerate() {
        for pair in 0..25 {
            let key = format!("key-{pair}");
            let call = CallContext::new(*workspace, "hostile");
            let got = execute(&runtime, &plugin, call, "kv-get", json!({"key": key})).await;
            let expected = format!("{workspace}-{}", pair * 2 + slot);
            assert_eq!(got.result, Ok(json!(expected)));
        }
    }
}

#[tokio::test]
async fn concurrent_calls_are_isolated_in_memory() {
    fifty_calls_see_only_their_workspace(runtime_with(KvStore::memory())).await;
}

#[tokio::test]
async fn concurrent_calls_are_isolated_in_redis() {
    let kv = KvStore::redis(REDIS_URL)
        .await
        .expect("Redis must run on 127.0.0.1:6379");
    fifty_calls_see_only_their_workspace(runtime_with(kv)).await;
}

#[tokio::test]
async fn plugins_of_one_workspace_do_not_share_keys() {
    let runtime = runtime_with(KvStore::memory());
    let plugin = hostile(&runtime).await;
    let workspace = Uuid::new_v4();

    let set = CallContext::new(workspace, "plugin-a");
    let input = json!({"key": "shared", "value": "from a"});
    let report = execute(&runtime, &plugin, set, "kv-set", input).await;
    assert_eq!(report.result, Ok(json!(null)));

    let other = CallContext::new(workspace, "plugin-b");
    let got = execute(&runtime, &plugin, other, "kv-get", json!({"key": "shared"})).await;
    assert_eq!(got.result, Ok(json!(null)));
}

#[tokio::test]
async fn redis_keys_expire_after_ttl() {
    let kv = KvStore::redis(REDIS_URL)
        .await
        .expect("Redis must run on 127.0.0.1:6379");
    let runtime = runtime_with(kv);
    let plugin = hostile(&runtime).await;
    let workspace = Uuid::new_v4();

    let input = json!({"key": "short", "value": "v", "ttl_seconds": 1});
    let set = execute(
        &runtime,
        &plugin,
        CallContext::new(workspace, "p"),
        "kv-set",
        input,
    )
    .await;
    assert_eq!(set.result, Ok(json!(null)));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    let call = CallContext::new(workspace, "p");
    let got = execute(&runtime, &plugin, call, "kv-get", json!({"key": "short"})).await;
    assert_eq!(got.result, Ok(json!(null)));
}
