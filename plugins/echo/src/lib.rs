//! Built-in connector that returns its input unchanged. The host uses it for health checks and
//! benchmarks, and it shows the smallest complete connector.

use trellis_connector_sdk::Value;
use trellis_connector_sdk::{export_connector, json, Connector, Error, Json, Manifest, Operation};

struct Echo;

impl Connector for Echo {
    fn manifest() -> Manifest {
        Manifest::new("echo", "Echo", env!("CARGO_PKG_VERSION"))
            .description("Returns its input unchanged; useful to check that connectors run.")
            // An optional secret that the connector never reads, so the platform's handling of
            // secrets can be checked end to end.
            .config_schema(json!({
                "type": "object",
                "properties": {"token": {"type": "string"}}
            }))
            .secret_field("token")
            .operation(
                Operation::new("echo", json!({}))
                    .description("Returns the input unchanged")
                    .read_only(),
            )
            .operation(
                Operation::new("noop", json!({}))
                    .description("Returns null without reading the input")
                    .read_only(),
            )
    }

    fn execute(_config: Json, operation: &str, input: Json) -> Result<Value, Error> {
        match operation {
            "echo" => Ok(input.into_value()),
            "noop" => Ok(Value::Null),
            other => Err(Error::unknown_operation(other)),
        }
    }
}

export_connector!(Echo);
