//! A JSON body extractor whose errors name the field at fault, and the matching path and query
//! error handlers.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::Problem;

/// Largest request body accepted when the app sets no [`BodyLimit`], in bytes.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Largest request body a JSON extractor accepts, in bytes; set as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body deserialized into `T`. Errors are problem documents that name the
/// field by its dotted path.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Problem>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = request
            .app_data::<BodyLimit>()
            .or_else(|| {
                request
                    .app_data::<web::Data<BodyLimit>>()
                    .map(|d| d.get_ref())
            })
            .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let content_type_ok = is_json_content_type(request);
        let mut payload = payload.take();

        Box::pin(async move {
            if !content_type_ok {
                return Err(Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "The request body must be JSON; send `Content-Type: application/json`",
                ));
            }

            let body = read_limited(&mut payload, limit).await?;

            parse_body(&body).map(Json)
        })
    }
}

/// Reads a whole request body, refusing it with 413 once it passes `limit` bytes.
pub async fn read_limited(payload: &mut Payload, limit: usize) -> Result<web::Bytes, Problem> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                "The request body could not be read",
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn too_large(limit: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("The request body is larger than the limit of {limit} bytes"),
    )
}

fn is_json_content_type(request: &HttpRequest) -> bool {
    let Some(value) = request.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// Deserializes a JSON body, naming the field at fault when it fails.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    if body.is_empty() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The request body is empty; send a JSON object",
        ));
    }

    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = result.map_err(|error| describe(&error))?;
    deserializer.end().map_err(|error| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("The request body is not valid JSON: {error}"),
        )
    })?;
    Ok(value)
}

fn describe(error: &serde_path_to_error::Error<serde_json::Error>) -> Problem {
    let inner = error.inner();
    let message = strip_position(&inner.to_string());
    if inner.is_syntax() || inner.is_eof() {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("The request body is not valid JSON: {inner}"),
        );
    }

    let mut path = error.path().to_string();
    if path == "." {
        path.clear();
    }
    // serde reports a missing field at the level of its parent object, so add its name.
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        path = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
    }
    if path.is_empty() {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            format!("The request body has the wrong shape: {message}"),
        );
    }
    Problem::validation(&path, format!("Field `{path}` is invalid: {message}"))
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

/// Builds path extractor settings: a path segment that does not parse, such as a malformed
/// id, gets 404 as an unknown id would.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| Problem::not_found("The resource").into())
}

/// Query extractor settings: errors name the parameter.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            format!("A query parameter is invalid: {error}"),
        )
        .into()
    })
}

/// Settings for actix's own JSON extractor, for routes that use it: errors become problems.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |error, _| {
            use actix_web::error::JsonPayloadError;
            let problem = match &error {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => too_large(limit),
                JsonPayloadError::ContentType => Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "The request body must be JSON; send `Content-Type: application/json`",
                ),
                other => Problem::new(StatusCode::BAD_REQUEST, "malformed_json", other.to_string()),
            };
            problem.into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        role: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        email: String,
        inner: Inner,
    }

    #[test]
    fn missing_field_is_named() {
        let problem = parse_body::<Outer>(br#"{"inner": {"role": "x"}}"#).unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("email"));
    }

    #[test]
    fn nested_wrong_type_is_named() {
        let problem = parse_body::<Outer>(br#"{"email": "a", "inner": {"role": 5}}"#).unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("inner.role"));
        assert_eq!(problem.code, "validation_failed");
    }

    #[test]
    fn syntax_error_is_malformed() {
        let problem = parse_body::<Outer>(b"{\"email\":").unwrap_err();
        assert_eq!(problem.code, "malformed_json");
    }
}
