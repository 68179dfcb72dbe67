//! A connector whose operations each attack the host in one way. The exec service's tests run
//! every operation and expect a typed error while the host keeps serving.

use std::hint::black_box;

use trellis_connector_sdk::http::Request;
use trellis_connector_sdk::sql::{self, Value as SqlValue};
use trellis_connector_sdk::{export_connector, json, kv, log, Value};
use trellis_connector_sdk::{Connector, Error, Json, Manifest, Operation};

struct Hostile;

const OPERATIONS: &[&str] = &[
    "spin",
    "grow-memory",
    "recurse",
    "panic",
    "big-output",
    "fetch",
    "read-file",
    "read-env",
    "kv-set",
    "kv-get",
    "log-flood",
    "sql-query",
];

impl Connector for Hostile {
    fn manifest() -> Manifest {
        let mut manifest = Manifest::new("hostile", "Hostile", "0.1.0")
            .description("Attacks the sandbox, for tests")
            .config_schema(json!({
                "type": "object",
                "properties": { "base_url": { "type": "string" } }
            }))
            .base_url_field("base_url");
        for name in OPERATIONS {
            manifest = manifest.operation(Operation::new(name, json!({ "type": "object" })));
        }
        manifest
    }

    fn execute(_config: Json, operation: &str, input: Json) -> Result<Value, Error> {
        match operation {
            "spin" => spin(),
            "grow-memory" => grow_memory(),
            "recurse" => Ok(json!(recurse(black_box(0)))),
            "panic" => panic!("the hostile connector panicked on purpose"),
            "big-output" => big_output(input.field("megabytes")?),
            "fetch" => fetch(&input.field::<String>("url")?),
            "read-file" => read_file(&input.field::<String>("path")?),
            "read-env" => read_env(&input.field::<String>("name")?),
            "kv-set" => kv_set(&input),
            "kv-get" => kv_get(&input.field::<String>("key")?),
            "log-flood" => log_flood(input.field("lines")?),
            "sql-query" => sql_query(&input),
            other => Err(Error::unknown_operation(other)),
        }
    }
}

fn spin() -> Result<Value, Error> {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

fn grow_memory() -> Result<Value, Error> {
    let mut chunks = Vec::new();
    loop {
        chunks.push(black_box(vec![1u8; 1 << 20]));
    }
}

#[expect(unconditional_recursion, reason = "the call stack limit must stop it")]
fn recurse(depth: u64) -> u64 {
    // The addition after the call keeps it from becoming a loop.
    black_box(recurse(black_box(depth + 1))) + 1
}

fn big_output(megabytes: usize) -> Result<Value, Error> {
    Ok(Value::String("x".repeat(megabytes << 20)))
}

fn fetch(url: &str) -> Result<Value, Error> {
    let response = Request::get(url).timeout_ms(2_000).send()?;
    Ok(json!({ "status": response.status(), "body": response.text() }))
}

fn read_file(path: &str) -> Result<Value, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(json!({ "content": text })),
        Err(error) => Err(Error::Denied(format!("reading {path} failed: {error}"))),
    }
}

fn read_env(name: &str) -> Result<Value, Error> {
    let visible = std::env::vars().count();
    match std::env::var(name) {
        Ok(value) => Ok(json!({ "value": value, "visible": visible })),
        Err(error) => Err(Error::Denied(format!("reading ${name} failed: {error}; {visible} visible"))),
    }
}

fn kv_set(input: &Json) -> Result<Value, Error> {
    let key: String = input.field("key")?;
    let value: String = input.field("value")?;
    kv::set(&key, value.as_bytes(), input.optional("ttl_seconds")?)?;
    Ok(Value::Null)
}

fn kv_get(key: &str) -> Result<Value, Error> {
    let value = kv::get(key)?;
    Ok(json!(value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())))
}

fn log_flood(lines: u32) -> Result<Value, Error> {
    for line in 0..lines {
        log::info(&format!("flood line {line}"));
    }
    Ok(json!(lines))
}

fn sql_query(input: &Json) -> Result<Value, Error> {
    let statement: String = input.field("statement")?;
    let params: Vec<Value> = input.optional("params")?.unwrap_or_default();
    let params: Vec<SqlValue> = params.iter().map(to_sql).collect();
    let rows = sql::query(&statement, &params)?;
    Ok(json!({ "rows": rows.to_json(), "truncated": rows.truncated }))
}

fn to_sql(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(flag) => SqlValue::Boolean(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => SqlValue::Integer(integer),
            None => SqlValue::Float(number.as_f64().unwrap_or_default()),
        },
        Value::String(text) => SqlValue::Text(text.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

export_connector!(Hostile);
