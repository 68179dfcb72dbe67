//! Hostile components against the sandbox limits: each attack ends in its typed error and
//! the host keeps serving other calls.

use std::time::Duration;

use serde_json::json;
use trellis_exec::runtime::{CallLimits, Limit};
use trellis_exec::{CallContext, LoadedPlugin, RunError, Runtime};
use uuid::Uuid;

use crate::support::{execute, hostile, runtime};

fn call() -> CallContext {
    CallContext::new(Uuid::new_v4(), "hostile")
}

fn call_with(limits: CallLimits) -> CallContext {
    CallContext { limits, ..call() }
}

/// Checks that the host still runs a normal call after an attack.
async fn assert_still_serving(runtime: &Runtime, plugin: &LoadedPlugin) {
    let report = execute(runtime, plugin, call(), "kv-get", json!({"key": "probe"})).await;
    assert_eq!(report.result, Ok(json!(null)), "the host stopped serving");
}

#[tokio::test]
async fn infinite_loop_times_out() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;
    let limits = CallLimits {
        deadline: Duration::from_millis(300),
        ..CallLimits::default()
    };

    let report = execute(&runtime, &plugin, call_with(limits), "spin", json!({})).await;

    assert!(
        matches!(report.result, Err(RunError::TimedOut { .. })),
        "{:?}",
        report.result
    );
    assert!(
        report.duration < Duration::from_secs(2),
        "took {:?}",
        report.duration
    );
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test]
async fn spinning_call_does_not_block_others() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;
    let limits = CallLimits {
        deadline: Duration::from_secs(2),
        ..CallLimits::default()
    };

    let spinning = execute(&runtime, &plugin, call_with(limits), "spin", json!({}));
    let others = async {
        for _ in 0..20 {
            let report = execute(&runtime, &plugin, call(), "kv-get", json!({"key": "k"})).await;
            assert_eq!(report.result, Ok(json!(null)));
        }
    };
    let ((), spun) = tokio::join!(others, spinning);

    assert!(
        matches!(spun.result, Err(RunError::TimedOut { .. })),
        "{:?}",
        spun.result
    );
}

#[tokio::test]
async fn unbounded_memory_growth_hits_memory_limit() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;

    let report = execute(&runtime, &plugin, call(), "grow-memory", json!({})).await;

    match report.result {
        Err(RunError::LimitExceeded { limit, .. }) => assert_eq!(limit, Limit::Memory),
        other => panic!("expected the memory limit, got {other:?}"),
    }
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test]
async fn deep_recursion_hits_stack_limit() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;

    let report = execute(&runtime, &plugin, call(), "recurse", json!({})).await;

    match report.result {
        Err(RunError::LimitExceeded { limit, .. }) => assert_eq!(limit, Limit::Stack),
        other => panic!("expected the stack limit, got {other:?}"),
    }
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test]
async fn panic_becomes_crash_with_message() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;

    let report = execute(&runtime, &plugin, call(), "panic", json!({})).await;

    match report.result {
        Err(RunError::Crashed { message }) => {
            assert!(message.contains("panicked on purpose"), "{message}")
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test]
async fn hundred_mib_output_hits_memory_limit_by_default() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;

    let report = execute(
        &runtime,
        &plugin,
        call(),
        "big-output",
        json!({"megabytes": 100}),
    )
    .await;

    match report.result {
        Err(RunError::LimitExceeded { limit, .. }) => assert_eq!(limit, Limit::Memory),
        other => panic!("expected the memory limit, got {other:?}"),
    }
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test]
async fn large_output_hits_output_limit() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;
    // Enough memory to build 20 MiB of output, which is over the 16 MiB output cap.
    let limits = CallLimits {
        memory_bytes: 200 << 20,
        ..CallLimits::default()
    };

    let report = execute(
        &runtime,
        &plugin,
        call_with(limits),
        "big-output",
        json!({"megabytes": 20}),
    )
    .await;

    match report.result {
        Err(RunError::LimitExceeded { limit, .. }) => assert_eq!(limit, Limit::Output),
        other => panic!("expected the output limit, got {other:?}"),
    }
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test]
async fn oversized_input_is_rejected_before_running() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;
    let limits = CallLimits {
        max_input_bytes: 1024,
        ..CallLimits::default()
    };
    let input = json!({"key": "x".repeat(2048)});

    let report = execute(&runtime, &plugin, call_with(limits), "kv-get", input).await;

    match report.result {
        Err(RunError::LimitExceeded { limit, .. }) => assert_eq!(limit, Limit::Input),
        other => panic!("expected the input limit, got {other:?}"),
    }
}

#[tokio::test]
async fn file_read_finds_no_filesystem() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;

    for path in ["/etc/passwd", "Cargo.toml", "."] {
        let report = execute(
            &runtime,
            &plugin,
            call(),
            "read-file",
            json!({"path": path}),
        )
        .await;
        assert!(
            matches!(report.result, Err(RunError::Denied { .. })),
            "{path}: {:?}",
            report.result
        );
    }
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test]
async fn environment_is_empty() {
    std::env::set_var("TRELLIS_TEST_SECRET", "must-not-leak");
    let runtime = runtime();
    let plugin = hostile(&runtime).await;

    for name in ["TRELLIS_TEST_SECRET", "PATH", "HOME"] {
        let report = execute(&runtime, &plugin, call(), "read-env", json!({"name": name})).await;
        match report.result {
            Err(RunError::Denied { message }) => {
                assert!(message.ends_with("0 visible"), "{message}")
            }
            other => panic!("{name}: expected a denial, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn log_flood_is_rate_limited() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;

    let report = execute(
        &runtime,
        &plugin,
        call(),
        "log-flood",
        json!({"lines": 10_000}),
    )
    .await;

    assert_eq!(report.result, Ok(json!(10_000)));
    assert!(
        report.logs.len() <= CallLimits::default().max_log_lines,
        "{}",
        report.logs.len()
    );
    assert!(
        report.logs_dropped >= 9_800,
        "dropped {}",
        report.logs_dropped
    );
    assert_eq!(report.logs[0].message, "flood line 0");
}

#[tokio::test]
async fn unknown_operation_is_invalid_input() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;

    let report = execute(&runtime, &plugin, call(), "no-such-operation", json!({})).await;

    assert!(
        matches!(report.result, Err(RunError::InvalidInput { .. })),
        "{:?}",
        report.result
    );
}

#[tokio::test]
async fn full_pool_rejects_with_concurrency_limit() {
    let mut settings = crate::support::runtime_settings();
    settings.engine.max_instances = 1;
    settings.slot_wait = Duration::from_millis(100);
    let services = trellis_exec::host::Services::new(trellis_exec::host::kv::KvStore::memory());
    let runtime = Runtime::new(settings, services).unwrap();
    let plugin = hostile(&runtime).await;
    let limits = CallLimits {
        deadline: Duration::from_millis(800),
        ..CallLimits::default()
    };

    let spinning = execute(&runtime, &plugin, call_with(limits), "spin", json!({}));
    let waiting = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        execute(&runtime, &plugin, call(), "kv-get", json!({"key": "k"})).await
    };
    let (spun, waited) = tokio::join!(spinning, waiting);

    assert!(matches!(spun.result, Err(RunError::TimedOut { .. })));
    match waited.result {
        Err(RunError::LimitExceeded { limit, .. }) => assert_eq!(limit, Limit::Concurrency),
        other => panic!("expected the concurrency limit, got {other:?}"),
    }
    assert_still_serving(&runtime, &plugin).await;
}
