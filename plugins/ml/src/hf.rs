//! Hugging Face's Inference API: `POST {base}/models/{id}` with a task-shaped
//! `{"inputs", "parameters"}` body and a bearer token, the `503` "model is loading" response
//! with its `estimated_time`, `GET {base}/status/{id}` for readiness and the Hub's
//! `GET {hub}/api/models/{id}` for metadata.

use std::time::Duration;

use trellis_connector_sdk::http::Response;
use trellis_connector_sdk::{json, log, serde_json, Error, Json, Value};

use crate::client::{self, encode_segment, json_body, status_error, Client};

/// Attempts of one prediction while the model loads.
const MAX_ATTEMPTS: u32 = 5;
/// Shortest wait before asking a loading model again.
const MIN_WAIT: Duration = Duration::from_millis(250);

/// Tasks whose `inputs` are a text or a list of texts.
const TEXT_TASKS: &[&str] = &[
    "text-classification",
    "token-classification",
    "summarization",
    "translation",
    "text-generation",
    "text2text-generation",
    "fill-mask",
    "feature-extraction",
];

/// Tasks that the `hf-inference` provider serves under `/models/{id}/pipeline/{task}`.
const PIPELINE_TASKS: &[&str] = &["feature-extraction", "sentence-similarity"];

/// Returns the model id of a call, checked: `name` or `org/name`, each part a plain path
/// segment, encoded.
fn model_id(client: &Client, input: &Json) -> Result<(String, String), Error> {
    let model: Option<String> = input.optional("model")?;
    let model = model
        .filter(|name| !name.is_empty())
        .or_else(|| client.config.model.clone())
        .ok_or_else(|| {
            Error::InvalidInput(
                "the field `model` (a Hugging Face model id such as \
                 `distilbert/distilbert-base-uncased-finetuned-sst-2-english`) is required when \
                 the resource sets no `model`"
                    .into(),
            )
        })?;
    let segments: Vec<&str> = model.split('/').collect();
    if segments.len() > 2
        || segments
            .iter()
            .any(|part| part.is_empty() || *part == "." || *part == "..")
    {
        return Err(Error::InvalidInput(format!(
            "the field `model` must be a Hugging Face model id, `name` or `org/name`, not \
             `{model}`"
        )));
    }
    let path = segments
        .iter()
        .map(|segment| encode_segment(segment))
        .collect::<Vec<_>>()
        .join("/");
    Ok((model, path))
}

/// Builds the error of a 4xx or 5xx response, naming the unknown model for a 404.
fn failed(response: &Response, model: &str, service: &str) -> Error {
    if response.status() == 404 {
        return Error::Upstream {
            status: Some(404),
            message: format!(
                "model `{model}` was not found on {service}: {}",
                client::error_detail(response)
            ),
        };
    }
    status_error(response, &format!("{service} (model `{model}`)"))
}

/// Hugging Face's estimate, in seconds, of when a loading model is ready: the
/// `estimated_time` of a 503 response.
fn loading_estimate(response: &Response) -> Option<f64> {
    if response.status() != 503 {
        return None;
    }
    let body: Value = serde_json::from_slice(response.bytes()).ok()?;
    body.get("estimated_time")?
        .as_f64()
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
}

/// `predict`: sends `inputs` and `parameters`. While the model loads, it waits as long as
/// Hugging Face estimates and sends the request again within the call's budget.
pub(crate) fn predict(client: &Client, input: &Json) -> Result<Value, Error> {
    let (model, path) = model_id(client, input)?;
    let inputs: Value = input.optional("inputs")?.ok_or_else(|| {
        Error::InvalidInput(
            "the field `inputs` is required: the task's input, such as a text".into(),
        )
    })?;
    let parameters: Option<Value> = input.optional("parameters")?;
    if parameters.as_ref().is_some_and(|value| !value.is_object()) {
        return Err(Error::InvalidInput(
            "the field `parameters` must be an object".into(),
        ));
    }
    let task: Option<String> = input.optional("task")?;
    if let Some(task) = &task {
        check_task(task, &inputs, parameters.as_ref())?;
    }
    let wait_for_model: bool = input.optional("wait_for_model")?.unwrap_or(false);
    let use_cache: Option<bool> = input.optional("use_cache")?;

    let mut url = format!("{}/models/{path}", client.config.base_url);
    if let Some(task) = task.as_deref().filter(|task| PIPELINE_TASKS.contains(task)) {
        url.push_str(&format!("/pipeline/{task}"));
    }
    let mut body = json!({ "inputs": inputs });
    if let Some(parameters) = parameters {
        body["parameters"] = parameters;
    }
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if wait_for_model {
        headers.push(("x-wait-for-model", "true"));
    }
    if use_cache == Some(false) {
        headers.push(("x-use-cache", "false"));
    }

    let mut attempt = 1;
    loop {
        let response = client.send("POST", &url, Some(&body), &headers)?;
        if let Some(estimate) = loading_estimate(&response) {
            let wait = Duration::from_secs_f64(estimate.min(3600.0)).max(MIN_WAIT);
            if attempt < MAX_ATTEMPTS && wait < client.budget.remaining() {
                log::info(&format!(
                    "model `{model}` is loading; asking again in {} ms (attempt {} of \
                     {MAX_ATTEMPTS})",
                    wait.as_millis(),
                    attempt + 1
                ));
                std::thread::sleep(wait);
                attempt += 1;
                continue;
            }
            return Err(Error::Upstream {
                status: Some(503),
                message: format!(
                    "model `{model}` is loading on Hugging Face, which estimates it is ready in \
                     {estimate:.0} s; that is past this call's budget of {} ms, so retry later \
                     or raise `timeout_ms`: {}",
                    client.budget.total_ms(),
                    client::error_detail(&response)
                ),
            });
        }
        if response.status() >= 400 {
            return Err(failed(&response, &model, "Hugging Face"));
        }
        let output = json_body(&response, "Hugging Face")?;
        return Ok(json!({ "model": model, "output": output }));
    }
}

/// Checks the shape of `inputs` for the tasks whose input is known.
fn check_task(task: &str, inputs: &Value, parameters: Option<&Value>) -> Result<(), Error> {
    let invalid = |message: &str| {
        Error::InvalidInput(format!("the field `inputs` of a {task} call {message}"))
    };
    let is_texts = |value: &Value| match value {
        Value::String(_) => true,
        Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_string),
        _ => false,
    };
    let text_field = |name: &str| inputs.get(name).is_some_and(Value::is_string);
    let list_of_texts = |value: Option<&Value>| {
        value
            .and_then(Value::as_array)
            .is_some_and(|items| !items.is_empty() && items.iter().all(Value::is_string))
    };
    let zero_shot = task == "zero-shot-classification";
    let problem = match task {
        _ if TEXT_TASKS.contains(&task) || zero_shot => {
            (!is_texts(inputs)).then_some("must be a text or a list of texts")
        }
        "question-answering" => (!(text_field("question") && text_field("context")))
            .then_some("must be an object with `question` and `context` texts"),
        "sentence-similarity" => (!(text_field("source_sentence")
            && list_of_texts(inputs.get("sentences"))))
        .then_some("must be an object with a `source_sentence` text and a `sentences` list"),
        "table-question-answering" => (!(text_field("query")
            && inputs.get("table").is_some_and(Value::is_object)))
        .then_some("must be an object with a `query` text and a `table` object"),
        // Other tasks, such as image ones with base64 inputs, pass as they are.
        _ => None,
    };
    if let Some(problem) = problem {
        return Err(invalid(problem));
    }
    let labels = parameters.and_then(|parameters| parameters.get("candidate_labels"));
    if zero_shot && !list_of_texts(labels) {
        return Err(Error::InvalidInput(
            "a zero-shot-classification call needs `parameters.candidate_labels`, a list of \
             labels"
                .into(),
        ));
    }
    Ok(())
}

/// `metadata`: the Hub's model information (`pipeline_tag`, `library_name`, `tags`, ...).
pub(crate) fn metadata(client: &Client, input: &Json) -> Result<Value, Error> {
    let (model, path) = model_id(client, input)?;
    let url = format!("{}/api/models/{path}", client.config.hub_url);
    let response = client.get(&url)?;
    if response.status() >= 400 {
        return Err(failed(&response, &model, "the Hugging Face Hub"));
    }
    json_body(&response, "the Hugging Face Hub")
}

/// `ready`: the Inference API's status of the model, `{"loaded": bool, "state": ...}`.
// NOTE: `/status/{id}` is the status route of the serverless Inference API
// (api-inference.huggingface.co); whether the router's `hf-inference` path serves it too is not
// verified, since the tests reach only a loopback stand-in.
pub(crate) fn ready(client: &Client, input: &Json) -> Result<Value, Error> {
    let (model, path) = model_id(client, input)?;
    let url = format!("{}/status/{path}", client.config.base_url);
    let response = client.get(&url)?;
    if response.status() >= 400 {
        return Err(failed(&response, &model, "Hugging Face"));
    }
    let status = json_body(&response, "Hugging Face")?;
    let ready = status
        .get("loaded")
        .and_then(Value::as_bool)
        .unwrap_or_else(|| status.get("state").and_then(Value::as_str) == Some("Loaded"));
    Ok(json!({
        "ready": ready,
        "model": model,
        "state": status.get("state").cloned().unwrap_or(Value::Null),
        "status": status,
    }))
}

/// Runs the connection test: the status of the config's model, or else any response of the base URL
/// that is not an authentication or server error.
pub(crate) fn test_connection(client: &Client) -> Result<(), Error> {
    if client.config.model.is_some() {
        let (model, path) = model_id(client, &Json::input(json!({})))?;
        let url = format!("{}/status/{path}", client.config.base_url);
        client::probe(client, &url, |status| (200..300).contains(&status)).map_err(|error| {
            match error {
                Error::Upstream {
                    status: Some(404),
                    message,
                } => Error::Upstream {
                    status: Some(404),
                    message: format!("{message} (model `{model}` was not found)"),
                },
                other => other,
            }
        })?;
        return Ok(());
    }
    let url = format!("{}/", client.config.base_url);
    client::probe(client, &url, |status| status < 500)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_tasks_need_texts() {
        let error = check_task("text-classification", &json!({"text": "x"}), None).unwrap_err();

        assert_eq!(
            error,
            Error::InvalidInput(
                "the field `inputs` of a text-classification call must be a text or a list of \
                 texts"
                    .into()
            )
        );
        assert!(check_task("text-classification", &json!(["a", "b"]), None).is_ok());
    }

    #[test]
    fn zero_shot_needs_labels() {
        let error = check_task("zero-shot-classification", &json!("x"), None).unwrap_err();

        assert!(matches!(error, Error::InvalidInput(ref m) if m.contains("candidate_labels")));
        assert!(check_task(
            "zero-shot-classification",
            &json!("x"),
            Some(&json!({"candidate_labels": ["a"]}))
        )
        .is_ok());
    }

    #[test]
    fn question_answering_needs_question_and_context() {
        let error = check_task("question-answering", &json!({"question": "q"}), None).unwrap_err();

        assert!(matches!(error, Error::InvalidInput(ref m) if m.contains("`context`")));
    }

    #[test]
    fn unknown_tasks_pass() {
        assert!(check_task("image-classification", &json!("aGVsbG8="), None).is_ok());
    }
}
