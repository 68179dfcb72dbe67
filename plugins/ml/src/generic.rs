//! A generic JSON predict endpoint: the input's `body` is sent as JSON to the configured path
//! with the configured method; optional paths serve `metadata` and `ready`.

use trellis_connector_sdk::{json, serde_json, Error, Json, Value};

use crate::client::{self, name_segment, status_error, Client};
use crate::config::GenericPaths;

fn paths<'a>(client: &'a Client) -> &'a GenericPaths {
    client
        .config
        .generic
        .as_ref()
        .expect("a generic config has its paths")
}

/// Fills a path's `{model}` placeholder with the input's or the config's model.
fn resolve(client: &Client, input: &Json, path: &str) -> Result<String, Error> {
    let model: Option<String> = input.optional("model")?;
    let model = model
        .filter(|name| !name.is_empty())
        .or_else(|| client.config.model.clone());
    if !path.contains("{model}") {
        return Ok(format!("{}{path}", client.config.base_url));
    }
    let model = model.ok_or_else(|| {
        Error::InvalidInput(format!(
            "the path `{path}` has a `{{model}}` placeholder, so the field `model` is required \
             when the resource sets no `model`"
        ))
    })?;
    Ok(format!(
        "{}{}",
        client.config.base_url,
        path.replace("{model}", &name_segment(&model, "model")?)
    ))
}

/// Returns the body of a response: JSON when it parses, else the text.
fn body_value(response: &trellis_connector_sdk::http::Response) -> Value {
    serde_json::from_slice(response.bytes()).unwrap_or_else(|_| Value::String(response.text()))
}

/// `predict`: sends `body` as it is and returns `{status, output}`.
pub(crate) fn predict(client: &Client, input: &Json) -> Result<Value, Error> {
    let paths = paths(client);
    let body: Value = input.optional("body")?.ok_or_else(|| {
        Error::InvalidInput(
            "the field `body` is required: the JSON that the endpoint expects, sent as it is"
                .into(),
        )
    })?;
    let url = resolve(client, input, &paths.predict_path)?;
    let response = client.send(&paths.predict_method, &url, Some(&body), &[])?;
    if response.status() >= 400 {
        return Err(status_error(
            &response,
            &format!(
                "the endpoint ({} {})",
                paths.predict_method, paths.predict_path
            ),
        ));
    }
    Ok(json!({ "status": response.status(), "output": body_value(&response) }))
}

/// `metadata`: `GET metadata_path`.
pub(crate) fn metadata(client: &Client, input: &Json) -> Result<Value, Error> {
    let path = paths(client).metadata_path.as_deref().ok_or_else(|| {
        Error::InvalidInput(
            "this resource has no `metadata_path`; set it in the resource to use `metadata` \
             with a generic endpoint"
                .into(),
        )
    })?;
    let url = resolve(client, input, path)?;
    let response = client.get(&url)?;
    if response.status() >= 400 {
        return Err(status_error(
            &response,
            &format!("the endpoint (GET {path})"),
        ));
    }
    Ok(body_value(&response))
}

/// `ready`: `GET ready_path`. A 2xx response means ready unless its JSON contains
/// `"ready": false`, and 503 means not ready.
pub(crate) fn ready(client: &Client, input: &Json) -> Result<Value, Error> {
    let path = paths(client).ready_path.as_deref().ok_or_else(|| {
        Error::InvalidInput(
            "this resource has no `ready_path`; set it in the resource to use `ready` with a \
             generic endpoint"
                .into(),
        )
    })?;
    let url = resolve(client, input, path)?;
    let response = client.get(&url)?;
    let status = response.status();
    let body = body_value(&response);
    let ready = match status {
        200..=299 => body.get("ready").and_then(Value::as_bool).unwrap_or(true),
        503 => false,
        _ => {
            return Err(status_error(
                &response,
                &format!("the endpoint (GET {path})"),
            ))
        }
    };
    Ok(json!({ "ready": ready, "status": status, "output": body }))
}

/// Runs the connection test: `GET ready_path`, else `GET metadata_path`, which must return 2xx. With
/// neither, any response of the base URL passes unless it is an authentication or server error.
pub(crate) fn test_connection(client: &Client) -> Result<(), Error> {
    let paths = paths(client);
    let no_input = Json::input(json!({}));
    match paths.ready_path.as_ref().or(paths.metadata_path.as_ref()) {
        Some(path) => {
            let url = resolve(client, &no_input, path).map_err(|_| {
                Error::InvalidConfig(format!(
                    "the connection test needs `model` in the resource to fill `{{model}}` in \
                     `{path}`"
                ))
            })?;
            client::probe(client, &url, |status| (200..300).contains(&status))?;
        }
        None => {
            let url = format!("{}/", client.config.base_url);
            client::probe(client, &url, |status| status < 500)?;
        }
    }
    Ok(())
}
