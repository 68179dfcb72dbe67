//! Built-in connector for ML inference servers: the Open Inference Protocol v2 of KServe,
//! MLServer and Triton, Hugging Face's Inference API, and any JSON predict endpoint. Offers
//! `predict`, `metadata` and `ready`; tensors are checked against their shape, datatype and
//! the model's metadata before a request is sent.

mod client;
mod config;
mod generic;
mod hf;
mod oip;
mod tensor;

use std::time::Duration;

use trellis_connector_sdk::Value;
use trellis_connector_sdk::{export_connector, json, Connector, Error, Json, Manifest, Operation};

use crate::client::{Budget, Client};
use crate::config::{Config, Protocol};

struct Ml;

/// Time allowed for a whole call, waits for a loading model included, when the input sets no
/// `timeout_ms`. It matches the default action timeout.
const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Time allowed for a connection test.
const CONNECTION_TEST_TIMEOUT_MS: u64 = 10_000;

impl Connector for Ml {
    fn manifest() -> Manifest {
        Manifest::new("ml", "ML inference", env!("CARGO_PKG_VERSION"))
            .description(
                "Predictions from model servers: KServe, MLServer and Triton through the Open \
                 Inference Protocol v2, Hugging Face's Inference API, or any JSON predict \
                 endpoint.",
            )
            .config_schema(config_schema())
            .base_url_field("base_url")
            .base_url_field("hub_url")
            .secret_field("bearer_token")
            .secret_field("api_key")
            .operation(
                Operation::new("predict", predict_schema())
                    .description(
                        "Sends inputs (tensors, records, a task's input or a JSON body) to a \
                         model and returns its outputs",
                    )
                    .read_only(),
            )
            .operation(
                Operation::new("metadata", model_schema())
                    .description("Returns a model's metadata: its inputs and outputs")
                    .read_only(),
            )
            .operation(
                Operation::new("ready", model_schema())
                    .description("Tells whether a model is ready for inference")
                    .read_only(),
            )
    }

    fn test_connection(config: Json) -> Result<(), Error> {
        let config = Config::from_json(&config)?;
        let client = Client {
            config: &config,
            budget: Budget::new(Duration::from_millis(CONNECTION_TEST_TIMEOUT_MS)),
        };
        match config.protocol {
            Protocol::Oip => oip::test_connection(&client),
            Protocol::HuggingFace => hf::test_connection(&client),
            Protocol::Generic => generic::test_connection(&client),
        }
    }

    fn execute(config: Json, operation: &str, input: Json) -> Result<Value, Error> {
        let config = Config::from_json(&config)?;
        if !matches!(operation, "predict" | "metadata" | "ready") {
            return Err(Error::unknown_operation(operation));
        }
        check_fields(config.protocol, operation, &input)?;
        let timeout_ms: u64 = input.optional("timeout_ms")?.unwrap_or(DEFAULT_TIMEOUT_MS);
        if timeout_ms == 0 {
            return Err(Error::InvalidInput(
                "the field `timeout_ms` must be at least 1".into(),
            ));
        }
        let client = Client {
            config: &config,
            budget: Budget::new(Duration::from_millis(timeout_ms)),
        };
        match (config.protocol, operation) {
            (Protocol::Oip, "predict") => oip::predict(&client, &input),
            (Protocol::Oip, "metadata") => oip::metadata(&client, &input),
            (Protocol::Oip, _) => oip::ready(&client, &input),
            (Protocol::HuggingFace, "predict") => hf::predict(&client, &input),
            (Protocol::HuggingFace, "metadata") => hf::metadata(&client, &input),
            (Protocol::HuggingFace, _) => hf::ready(&client, &input),
            (Protocol::Generic, "predict") => generic::predict(&client, &input),
            (Protocol::Generic, "metadata") => generic::metadata(&client, &input),
            (Protocol::Generic, _) => generic::ready(&client, &input),
        }
    }
}

/// Returns the input fields of an operation on a protocol.
fn allowed_fields(protocol: Protocol, operation: &str) -> &'static [&'static str] {
    match (protocol, operation) {
        (Protocol::Oip, "predict") => &[
            "model",
            "version",
            "inputs",
            "records",
            "columns",
            "input_name",
            "datatype",
            "outputs",
            "parameters",
            "id",
            "check_metadata",
            "timeout_ms",
        ],
        (Protocol::HuggingFace, "predict") => &[
            "model",
            "inputs",
            "parameters",
            "task",
            "wait_for_model",
            "use_cache",
            "timeout_ms",
        ],
        (Protocol::Generic, "predict") => &["model", "body", "timeout_ms"],
        (Protocol::Oip, _) => &["model", "version", "timeout_ms"],
        (_, _) => &["model", "timeout_ms"],
    }
}

/// Rejects input fields that the operation does not read on this protocol, so a misspelt or
/// misplaced field is reported instead of ignored.
fn check_fields(protocol: Protocol, operation: &str, input: &Json) -> Result<(), Error> {
    let Some(object) = input.value().as_object() else {
        return Err(Error::InvalidInput("expected a JSON object".into()));
    };
    let allowed = allowed_fields(protocol, operation);
    if let Some(field) = object.keys().find(|key| !allowed.contains(&key.as_str())) {
        let elsewhere = [Protocol::Oip, Protocol::HuggingFace, Protocol::Generic]
            .into_iter()
            .filter(|other| allowed_fields(*other, operation).contains(&field.as_str()))
            .map(Protocol::name)
            .collect::<Vec<_>>();
        let hint = if elsewhere.is_empty() {
            format!("; `{operation}` takes {}", quoted(allowed))
        } else {
            format!(" with the {} protocol only", elsewhere.join(" and "))
        };
        return Err(Error::InvalidInput(format!(
            "the field `{field}` is not an input of `{operation}` on a {} resource{hint}",
            protocol.name()
        )));
    }
    Ok(())
}

fn quoted(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|field| format!("`{field}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn config_schema() -> Value {
    let protocol_is = |name: &str| json!({ "properties": { "protocol": { "const": name } }, "required": ["protocol"] });
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "protocol": {
                "enum": ["oip", "huggingface", "generic"],
                "default": "oip",
                "description": "oip: the Open Inference Protocol v2 (KServe, MLServer, Triton); \
                                huggingface: Hugging Face's Inference API; generic: a JSON \
                                predict endpoint"
            },
            "base_url": {
                "type": "string", "format": "uri",
                "default": config::HF_DEFAULT_BASE_URL,
                "examples": ["http://127.0.0.1:8080", "https://iris.models.example.com",
                             config::HF_DEFAULT_BASE_URL],
                "description": "Root of the server, without /v2. Required for oip and generic, \
                                which have no public default; huggingface defaults to Hugging \
                                Face's serverless inference"
            },
            "hub_url": {
                "type": "string", "format": "uri", "default": config::HF_DEFAULT_HUB_URL,
                "description": "huggingface: the Hub, whose model API serves `metadata`"
            },
            "model": {
                "type": "string",
                "description": "Model used when an input names none: the OIP model name, the \
                                Hugging Face model id, or the value of `{model}` in a generic \
                                path"
            },
            "model_version": {
                "type": "string",
                "description": "oip: version of `model` used when an input names none"
            },
            "auth_type": { "enum": ["none", "bearer", "api_key"], "default": "none" },
            "bearer_token": {
                "type": "string",
                "description": "Sent as `Authorization: Bearer`; a Hugging Face access token"
            },
            "api_key": { "type": "string", "description": "Sent in `api_key_header`" },
            "api_key_header": {
                "type": "string", "default": config::DEFAULT_API_KEY_HEADER,
                "description": "Header that carries `api_key`"
            },
            "headers": {
                "type": "object", "additionalProperties": { "type": "string" },
                "description": "Extra headers of every request"
            },
            "check_metadata": {
                "type": "boolean", "default": true,
                "description": "oip: check inputs against the model's metadata before predict"
            },
            "predict_path": {
                "type": "string",
                "examples": ["/predict", "/invocations", "/v1/models/{model}:predict"],
                "description": "generic: path of the predict endpoint under base_url; `{model}` \
                                is replaced by the model"
            },
            "predict_method": { "enum": ["POST", "PUT"], "default": "POST" },
            "metadata_path": {
                "type": "string",
                "description": "generic: path that returns the model's metadata (GET)"
            },
            "ready_path": {
                "type": "string",
                "description": "generic: path that returns 2xx when the model is ready (GET)"
            }
        },
        "allOf": [
            { "if": protocol_is("huggingface"), "else": { "required": ["base_url"] } },
            { "if": protocol_is("generic"), "then": { "required": ["predict_path"] } }
        ]
    })
}

fn predict_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "model": { "type": "string", "description": "Replaces the resource's `model`" },
            "version": { "type": "string", "description": "oip: model version" },
            "inputs": {
                "description": "oip: tensors, each {name, shape, datatype, data, parameters?}, \
                                with data flat or nested in row-major order; huggingface: the \
                                task's input, such as a text"
            },
            "records": {
                "type": "array",
                "items": { "type": ["array", "object"] },
                "description": "oip: rows (lists of values) or objects, sent as one tensor of \
                                shape [records, columns]; instead of `inputs`"
            },
            "columns": {
                "type": "array", "items": { "type": "string" },
                "description": "oip: the order of the keys of object records"
            },
            "input_name": {
                "type": "string",
                "description": "oip: name of the records' tensor; defaults to the model's only \
                                input, else `input-0`"
            },
            "datatype": {
                "enum": ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
                         "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"],
                "description": "oip: datatype of the records' tensor; defaults to the model's, \
                                else follows the values"
            },
            "outputs": {
                "type": "array",
                "items": { "type": ["string", "object"] },
                "description": "oip: outputs to return, as names or {name, parameters}"
            },
            "parameters": {
                "type": "object",
                "description": "oip: request parameters; huggingface: the task's parameters"
            },
            "id": { "type": "string", "description": "oip: request id echoed in the response" },
            "check_metadata": {
                "type": "boolean",
                "description": "oip: replaces the resource's `check_metadata`"
            },
            "task": {
                "type": "string",
                "description": "huggingface: the task, such as text-classification; checks the \
                                shape of `inputs`"
            },
            "wait_for_model": {
                "type": "boolean",
                "description": "huggingface: ask Hugging Face to hold the request while the model \
                                loads"
            },
            "use_cache": { "type": "boolean", "description": "huggingface: false skips its cache" },
            "body": { "description": "generic: the JSON body, sent as it is" },
            "timeout_ms": {
                "type": "integer", "minimum": 1, "default": DEFAULT_TIMEOUT_MS,
                "description": "Time allowed for the call, waits for a loading model included"
            }
        }
    })
}

fn model_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "model": { "type": "string", "description": "Replaces the resource's `model`" },
            "version": { "type": "string", "description": "oip: model version" },
            "timeout_ms": { "type": "integer", "minimum": 1, "default": DEFAULT_TIMEOUT_MS }
        }
    })
}

export_connector!(Ml);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misplaced_field_names_its_protocol() {
        let input = Json::input(json!({ "model": "m", "records": [[1]] }));

        let error = check_fields(Protocol::HuggingFace, "predict", &input).unwrap_err();

        assert_eq!(
            error,
            Error::InvalidInput(
                "the field `records` is not an input of `predict` on a huggingface resource \
                 with the oip protocol only"
                    .into()
            )
        );
    }

    #[test]
    fn unknown_field_lists_inputs() {
        let input = Json::input(json!({ "modle": "m" }));

        let error = check_fields(Protocol::Oip, "ready", &input).unwrap_err();

        assert!(
            matches!(error, Error::InvalidInput(ref m) if m.contains("`modle`") && m.contains("`model`, `version`, `timeout_ms`")),
            "{error}"
        );
    }
}
