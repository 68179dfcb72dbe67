//! A one-row `SELECT` through the SQL connector beside the same query through sqlx directly,
//! both on the PostgreSQL server on 127.0.0.1:5432 and measured in the same run.
//!
//! Run with `cargo bench -p trellis-exec --bench sql`; results are recorded in BENCHMARKS.md.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::Row;
use trellis_exec::host::kv::KvStore;
use trellis_exec::host::network::{InternalHost, NetworkPolicy};
use trellis_exec::host::sql::DatabaseTarget;
use trellis_exec::host::Services;
use trellis_exec::registry::BUILTIN_COMPONENTS;
use trellis_exec::{CallContext, CallRequest, Runtime, RuntimeSettings};
use uuid::Uuid;

const STATEMENT: &str = "SELECT 1::int8 AS id, 'one'::text AS name";

fn one_row_select(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime =
        Runtime::new(RuntimeSettings::default(), Services::new(KvStore::memory())).unwrap();
    let (_, bytes) = BUILTIN_COMPONENTS
        .iter()
        .find(|(name, _)| *name == "sql")
        .unwrap();
    let plugin = tokio
        .block_on(runtime.load(Arc::new(bytes.to_vec())))
        .unwrap();
    let config = json!({
        "engine": "postgres", "host": "127.0.0.1", "port": 5432, "database": "postgres",
        "user": "postgres", "tls_mode": "disable"
    });
    let target = DatabaseTarget::from_config(Uuid::new_v4(), &config).unwrap();
    let workspace = Uuid::new_v4();
    let internal = [InternalHost::parse("127.0.0.1:5432").unwrap()];
    let network = NetworkPolicy::from_config(&[], &config, &internal);
    let request = CallRequest::Execute {
        config,
        operation: "query".into(),
        input: json!({ "sql": STATEMENT }),
    };
    let pool = tokio
        .block_on(
            PgPoolOptions::new()
                .max_connections(5)
                .connect("postgres://postgres@127.0.0.1:5432/postgres"),
        )
        .expect("PostgreSQL must run on 127.0.0.1:5432");

    let mut group = c.benchmark_group("one-row SELECT");
    group.bench_function("SQL connector", |b| {
        b.to_async(&tokio).iter(|| async {
            let mut call = CallContext::new(workspace, "builtin:sql");
            call.database = target.clone();
            call.network = network.clone();
            let report = runtime.call(&plugin, call, &request).await;
            assert_eq!(report.result.unwrap()["row_count"], 1);
        })
    });
    group.bench_function("sqlx directly", |b| {
        b.to_async(&tokio).iter(|| async {
            let row = sqlx::query(STATEMENT).fetch_one(&pool).await.unwrap();
            let id: i64 = row.get("id");
            let name: String = row.get("name");
            let output = json!({ "rows": [{ "id": id, "name": name }] });
            assert_eq!(output["rows"][0]["id"], 1);
        })
    });
    group.finish();
}

criterion_group!(benches, one_row_select);
criterion_main!(benches);
