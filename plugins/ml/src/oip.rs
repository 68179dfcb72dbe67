//! The Open Inference Protocol (KServe v2), as served by KServe, MLServer and Triton:
//! `POST /v2/models/{name}[/versions/{v}]/infer`, `GET /v2/models/{name}[/versions/{v}]` and
//! `GET .../ready`.

use trellis_connector_sdk::http::Response;
use trellis_connector_sdk::{json, kv, log, serde_json, Error, Json, Value};

use crate::client::{self, json_body, name_segment, status_error, Client};
use crate::tensor::{parse_inputs, ModelMetadata, Records, Tensor};

/// How long a model's metadata is kept in the key-value store, in seconds.
const METADATA_TTL_SECONDS: u32 = 60;
/// Maximum key length, in bytes, that the host's key-value store accepts.
const MAX_KEY_BYTES: usize = 512;

/// The model, and optionally the version, that a call addresses.
struct Target {
    model: String,
    version: Option<String>,
    /// `/v2/models/{name}[/versions/{v}]`, encoded.
    path: String,
}

impl Target {
    fn from_input(client: &Client, input: &Json) -> Result<Target, Error> {
        let model: Option<String> = input.optional("model")?;
        let version: Option<String> = input.optional("version")?;
        let (model, version) = match model.filter(|name| !name.is_empty()) {
            // A version in the config belongs to the config's model.
            Some(model) => (model, version),
            None => match &client.config.model {
                Some(model) => (
                    model.clone(),
                    version.or_else(|| client.config.model_version.clone()),
                ),
                None => {
                    return Err(Error::InvalidInput(
                        "the field `model` is required when the resource sets no `model`".into(),
                    ))
                }
            },
        };
        let version = version.filter(|version| !version.is_empty());
        let mut path = format!("/v2/models/{}", name_segment(&model, "model")?);
        if let Some(version) = &version {
            path.push_str(&format!("/versions/{}", name_segment(version, "version")?));
        }
        Ok(Target {
            model,
            version,
            path,
        })
    }

    fn describe(&self) -> String {
        match &self.version {
            Some(version) => format!("model `{}` version `{version}`", self.model),
            None => format!("model `{}`", self.model),
        }
    }

    /// The error of a 404: the server does not know the model or version.
    fn not_found(&self, response: &Response) -> Error {
        Error::Upstream {
            status: Some(404),
            message: format!(
                "{} was not found on the model server: {}",
                self.describe(),
                client::error_detail(response)
            ),
        }
    }

    /// Builds the error of any other 4xx or 5xx response.
    fn failed(&self, response: &Response, action: &str) -> Error {
        if response.status() == 404 {
            return self.not_found(response);
        }
        status_error(
            response,
            &format!("the model server ({action} {})", self.describe()),
        )
    }
}

/// `predict`: checks the tensors, or turns `records` into one, checks them against the model's
/// metadata when it is known, and sends the inference request.
pub(crate) fn predict(client: &Client, input: &Json) -> Result<Value, Error> {
    let target = Target::from_input(client, input)?;
    let check = input
        .optional::<bool>("check_metadata")?
        .unwrap_or(client.config.check_metadata);
    let inputs: Option<Value> = input.optional("inputs")?;
    let records: Option<Value> = input.optional("records")?;
    let columns: Option<Vec<String>> = input.optional("columns")?;
    let input_name: Option<String> = input.optional("input_name")?;
    let datatype: Option<String> = input.optional("datatype")?;

    let tensors: Vec<Tensor> = match (inputs, records) {
        (Some(_), Some(_)) => {
            return Err(Error::InvalidInput(
                "give either `inputs` (tensors) or `records`, not both".into(),
            ))
        }
        (None, None) => {
            return Err(Error::InvalidInput(
                "the field `inputs` (a list of tensors) or `records` (a list of rows or \
                 objects) is required"
                    .into(),
            ))
        }
        (Some(inputs), None) => {
            for (field, set) in [
                ("columns", columns.is_some()),
                ("input_name", input_name.is_some()),
                ("datatype", datatype.is_some()),
            ] {
                if set {
                    return Err(Error::InvalidInput(format!(
                        "the field `{field}` applies only to `records`; a tensor in `inputs` \
                         names its own"
                    )));
                }
            }
            // Local checks first: a malformed tensor is reported without any request.
            let tensors = parse_inputs(&inputs)?;
            if check {
                if let Some(metadata) = metadata_for_check(client, &target)? {
                    metadata.check(&target.model, &tensors)?;
                }
            }
            tensors
        }
        (None, Some(records)) => {
            let records = Records {
                records: &records,
                columns,
                name: input_name,
                datatype,
            };
            // The same local checks before any request, with the datatype the values suggest
            // when neither the input nor (yet) the metadata names one.
            let tensor = records.to_tensor(None)?;
            let metadata = if check {
                metadata_for_check(client, &target)?
            } else {
                None
            };
            match metadata {
                Some(metadata) => {
                    let tensor = records.to_tensor(Some(&metadata))?;
                    metadata.check(&target.model, std::slice::from_ref(&tensor))?;
                    vec![tensor]
                }
                None => vec![tensor],
            }
        }
    };

    let mut body = serde_json::Map::new();
    if let Some(id) = input.optional::<String>("id")? {
        body.insert("id".into(), id.into());
    }
    if let Some(parameters) = input.optional::<Value>("parameters")? {
        if !parameters.is_object() {
            return Err(Error::InvalidInput(
                "the field `parameters` must be an object".into(),
            ));
        }
        body.insert("parameters".into(), parameters);
    }
    body.insert(
        "inputs".into(),
        Value::Array(tensors.iter().map(Tensor::to_json).collect()),
    );
    if let Some(outputs) = input.optional::<Value>("outputs")? {
        body.insert("outputs".into(), requested_outputs(&outputs)?);
    }

    let url = format!("{}{}/infer", client.config.base_url, target.path);
    let response = client.send("POST", &url, Some(&Value::Object(body)), &[])?;
    if response.status() >= 400 {
        return Err(target.failed(&response, "infer"));
    }
    let output = json_body(&response, "the model server")?;
    if !output.get("outputs").is_some_and(Value::is_array) {
        return Err(Error::Upstream {
            status: Some(response.status()),
            message: format!(
                "the model server's response for {} has no `outputs` list: {}",
                target.describe(),
                client::error_detail(&response)
            ),
        });
    }
    Ok(output)
}

/// Reads `outputs`: names, or `{name, parameters}` objects.
fn requested_outputs(value: &Value) -> Result<Value, Error> {
    let invalid = || {
        Error::InvalidInput(
            "the field `outputs` must be a list of output names or of `{name, parameters}` \
             objects"
                .into(),
        )
    };
    let Value::Array(items) = value else {
        return Err(invalid());
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(name) if !name.is_empty() => Ok(json!({ "name": name })),
            Value::Object(object) if object.get("name").is_some_and(Value::is_string) => {
                Ok(item.clone())
            }
            _ => Err(invalid()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// Reads the model's metadata for the input check, from the key-value store when a recent call
/// read it. A 404 is the unknown-model error; any other failure skips the check, since the
/// inference request reports its own errors.
fn metadata_for_check(client: &Client, target: &Target) -> Result<Option<ModelMetadata>, Error> {
    let key = format!("oip-metadata:{}{}", client.config.base_url, target.path);
    let cacheable = key.len() <= MAX_KEY_BYTES;
    if cacheable {
        if let Ok(Some(bytes)) = kv::get(&key) {
            if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
                return Ok(Some(ModelMetadata::from_json(&value)));
            }
        }
    }
    let url = format!("{}{}", client.config.base_url, target.path);
    let response = client.get(&url)?;
    match response.status() {
        200..=299 => {}
        404 => return Err(target.not_found(&response)),
        401 | 403 => return Err(target.failed(&response, "metadata")),
        status => {
            log::warn(&format!(
                "reading the metadata of {} returned {status}; the inputs are sent unchecked",
                target.describe()
            ));
            return Ok(None);
        }
    }
    let Ok(value) = serde_json::from_slice::<Value>(response.bytes()) else {
        log::warn("the model's metadata is not JSON; the inputs are sent unchecked");
        return Ok(None);
    };
    if cacheable {
        let _ = kv::set(
            &key,
            value.to_string().as_bytes(),
            Some(METADATA_TTL_SECONDS),
        );
    }
    Ok(Some(ModelMetadata::from_json(&value)))
}

/// `metadata`: the model's metadata document as the server returns it.
pub(crate) fn metadata(client: &Client, input: &Json) -> Result<Value, Error> {
    let target = Target::from_input(client, input)?;
    let url = format!("{}{}", client.config.base_url, target.path);
    let response = client.get(&url)?;
    if response.status() >= 400 {
        return Err(target.failed(&response, "metadata"));
    }
    json_body(&response, "the model server")
}

/// `ready`: whether the model is ready for inference. A 404 is the unknown-model error; 400
/// and 503, which servers return for a model that is loading or failed to load, are "not
/// ready".
pub(crate) fn ready(client: &Client, input: &Json) -> Result<Value, Error> {
    let target = Target::from_input(client, input)?;
    let url = format!("{}{}/ready", client.config.base_url, target.path);
    let response = client.get(&url)?;
    let status = response.status();
    let (ready, reason) = match status {
        200..=299 => {
            // KServe's Python server returns `{"name": ..., "ready": bool}`; MLServer and
            // Triton an empty 200.
            let body: Value = serde_json::from_slice(response.bytes()).unwrap_or(Value::Null);
            let ready = body.get("ready").and_then(Value::as_bool).unwrap_or(true);
            (ready, None)
        }
        400 | 503 => (false, Some(client::error_detail(&response))),
        _ => return Err(target.failed(&response, "ready")),
    };
    let mut output = json!({
        "ready": ready,
        "model": target.model,
        "version": target.version,
        "status": status,
    });
    if let Some(reason) = reason {
        output["reason"] = reason.into();
    }
    Ok(output)
}

/// Runs the connection test: the server's metadata (`GET /v2`), then the readiness of the config's
/// model when it names one.
pub(crate) fn test_connection(client: &Client) -> Result<(), Error> {
    let url = format!("{}/v2", client.config.base_url);
    client::probe(client, &url, |status| (200..300).contains(&status))?;
    if client.config.model.is_some() {
        let target = Target::from_input(client, &Json::input(json!({})))?;
        let url = format!("{}{}/ready", client.config.base_url, target.path);
        let response = client::probe(client, &url, |status| (200..300).contains(&status)).map_err(
            |error| match error {
                Error::Upstream {
                    status: Some(404),
                    message,
                } => Error::Upstream {
                    status: Some(404),
                    message: format!(
                        "{message} ({} does not exist on the server)",
                        target.describe()
                    ),
                },
                other => other,
            },
        )?;
        let body: Value = serde_json::from_slice(response.bytes()).unwrap_or(Value::Null);
        if body.get("ready") == Some(&Value::Bool(false)) {
            return Err(Error::Upstream {
                status: Some(response.status()),
                message: format!(
                    "the connection test failed at the request step: {} is not ready",
                    target.describe()
                ),
            });
        }
    }
    Ok(())
}
