//! Builds the outgoing request: the URL under the base URL, the query string, headers and body.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use trellis_connector_sdk::{serde_json, Error};
use url::Url;

/// Characters left as they are in a query key or value; RFC 3986 calls them unreserved.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes every byte except the unreserved ones, so a value is encoded exactly once.
pub(crate) fn encode_component(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if is_unreserved(byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Checks a value the caller already encoded: only characters allowed in a query component,
/// and every `%` followed by two hex digits.
fn check_encoded(text: &str, what: &str) -> Result<(), Error> {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            let hex = bytes.get(index + 1..index + 3);
            if !hex.is_some_and(|pair| pair.iter().all(u8::is_ascii_hexdigit)) {
                return Err(Error::InvalidInput(format!(
                    "{what} has a `%` not followed by two hex digits"
                )));
            }
            index += 3;
            continue;
        }
        let allowed = is_unreserved(byte) || b"!$'()*+,;:@/?".contains(&byte);
        if !allowed {
            return Err(Error::InvalidInput(format!(
                "{what} is marked as encoded but contains `{}`; encode it or drop `encoded_query`",
                byte as char
            )));
        }
        index += 1;
    }
    Ok(())
}

/// Joins `path` to the base URL. The result must keep the base URL's origin and stay under its
/// path, so `//host`, `@host`, absolute URLs to other origins and `..` out of the base path are
/// rejected.
pub(crate) fn join(base: &Url, path: &str) -> Result<Url, Error> {
    let reject = |reason: &str| Error::InvalidInput(format!("the field `path` {reason}"));
    if path.contains('#') {
        return Err(reject("must not contain a fragment (#)"));
    }
    if path.chars().any(char::is_control) {
        return Err(reject("must not contain control characters"));
    }

    if path.is_empty() {
        return Ok(base.clone());
    }
    // Only http and https count as a scheme, so a path such as `files:batchGet` stays a path.
    let lower = path.to_ascii_lowercase();
    let has_scheme = lower.starts_with("http:") || lower.starts_with("https:");
    let joined = if has_scheme || path.starts_with("//") || path.starts_with("\\\\") {
        // An absolute or scheme-relative URL is accepted only when it keeps the origin.
        base.join(path)
            .map_err(|error| reject(&format!("is not a valid URL: {error}")))?
    } else {
        let mut text = base
            .as_str()
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_string();
        if !text.ends_with('/') {
            text.push('/');
        }
        text.push_str(path.trim_start_matches(['/', '\\']));
        Url::parse(&text).map_err(|error| reject(&format!("is not a valid URL path: {error}")))?
    };

    if joined.origin() != base.origin()
        || !joined.username().is_empty()
        || joined.password().is_some()
    {
        return Err(reject(&format!(
            "must stay on {}; it leads to another host",
            base.origin().ascii_serialization()
        )));
    }
    let base_path = base.path().trim_end_matches('/');
    let stays_under =
        joined.path() == base_path || joined.path().starts_with(&format!("{base_path}/"));
    if !stays_under {
        return Err(reject(&format!(
            "must stay under the base path {}/",
            base_path
        )));
    }
    Ok(joined)
}

/// Converts one query value; arrays repeat the key, null leaves it out.
fn query_values(value: &serde_json::Value, key: &str) -> Result<Vec<String>, Error> {
    match value {
        serde_json::Value::Null => Ok(Vec::new()),
        serde_json::Value::String(text) => Ok(vec![text.clone()]),
        serde_json::Value::Number(number) => Ok(vec![number.to_string()]),
        serde_json::Value::Bool(flag) => Ok(vec![flag.to_string()]),
        serde_json::Value::Array(items) => {
            let mut values = Vec::new();
            for item in items {
                if item.is_array() || item.is_object() {
                    return Err(Error::InvalidInput(format!(
                        "the query parameter `{key}` contains a nested list or object"
                    )));
                }
                values.extend(query_values(item, key)?);
            }
            Ok(values)
        }
        serde_json::Value::Object(_) => Err(Error::InvalidInput(format!(
            "the query parameter `{key}` is an object; use a string, number, boolean or list"
        ))),
    }
}

/// Appends query pairs to the URL: the base URL's own query first, then `defaults` (already
/// plain text), then `query` from the input. With `encoded`, input keys and values are taken as
/// already percent-encoded.
pub(crate) fn set_query(
    url: &mut Url,
    defaults: &[(String, String)],
    query: Option<&serde_json::Map<String, serde_json::Value>>,
    encoded: bool,
) -> Result<(), Error> {
    let mut parts: Vec<String> = url.query().map(|q| vec![q.to_string()]).unwrap_or_default();
    parts.retain(|part| !part.is_empty());
    for (key, value) in defaults {
        parts.push(format!(
            "{}={}",
            encode_component(key),
            encode_component(value)
        ));
    }
    for (key, value) in query.into_iter().flatten() {
        for item in query_values(value, key)? {
            if encoded {
                check_encoded(key, &format!("the query key `{key}`"))?;
                check_encoded(&item, &format!("the query parameter `{key}`"))?;
                parts.push(format!("{key}={item}"));
            } else {
                parts.push(format!(
                    "{}={}",
                    encode_component(key),
                    encode_component(&item)
                ));
            }
        }
    }
    if parts.is_empty() {
        url.set_query(None);
    } else {
        url.set_query(Some(&parts.join("&")));
    }
    Ok(())
}

/// Checks a header name (an RFC 9110 token) and value (no CR, LF or NUL).
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!("`{name}` is not a valid header name"));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(format!(
            "the value of `{name}` contains a line break or NUL"
        ));
    }
    Ok(())
}

/// A request body and its content type.
pub(crate) struct Body {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// Builds the body from `body` and `body_type`: `json` (the default), `form`, `multipart` or
/// `raw` (a string, or `{"base64": ...}` for bytes).
pub(crate) fn body(value: &serde_json::Value, body_type: &str) -> Result<Body, Error> {
    match body_type {
        "json" => Ok(Body {
            bytes: serde_json::to_vec(value).unwrap_or_default(),
            content_type: "application/json".into(),
        }),
        "form" => {
            let object = value.as_object().ok_or_else(|| {
                Error::InvalidInput("a form `body` must be an object of fields".into())
            })?;
            let mut pairs = Vec::new();
            for (key, value) in object {
                for item in query_values(value, key)? {
                    pairs.push(format!(
                        "{}={}",
                        encode_component(key),
                        encode_component(&item)
                    ));
                }
            }
            Ok(Body {
                bytes: pairs.join("&").into_bytes(),
                content_type: "application/x-www-form-urlencoded".into(),
            })
        }
        "multipart" => multipart(value),
        "raw" => match value {
            serde_json::Value::String(text) => Ok(Body {
                bytes: text.clone().into_bytes(),
                content_type: "text/plain; charset=utf-8".into(),
            }),
            serde_json::Value::Object(object) if object.contains_key("base64") => {
                let text = object["base64"].as_str().unwrap_or_default();
                let bytes = BASE64.decode(text).map_err(|error| {
                    Error::InvalidInput(format!("the raw `body.base64` is not base64: {error}"))
                })?;
                Ok(Body {
                    bytes,
                    content_type: "application/octet-stream".into(),
                })
            }
            _ => Err(Error::InvalidInput(
                "a raw `body` must be a string or {\"base64\": \"...\"}".into(),
            )),
        },
        other => Err(Error::InvalidInput(format!(
            "the field `body_type` must be json, form, multipart or raw, not `{other}`"
        ))),
    }
}

/// Builds `multipart/form-data` (RFC 7578). A field is a string, or an object with `content`
/// (text) or `base64`, and optional `filename` and `content_type`.
fn multipart(value: &serde_json::Value) -> Result<Body, Error> {
    let object = value.as_object().ok_or_else(|| {
        Error::InvalidInput("a multipart `body` must be an object of fields".into())
    })?;
    let boundary = format!("trellis-{:016x}", boundary_seed(value));
    let mut bytes = Vec::new();
    for (name, field) in object {
        check_part_text(name, "field name")?;
        let (content, filename, content_type) = match field {
            serde_json::Value::String(text) => (text.clone().into_bytes(), None, None),
            serde_json::Value::Object(part) => {
                let content = match (part.get("content"), part.get("base64")) {
                    (Some(serde_json::Value::String(text)), None) => text.clone().into_bytes(),
                    (None, Some(serde_json::Value::String(text))) => {
                        BASE64.decode(text).map_err(|error| {
                            Error::InvalidInput(format!(
                                "the multipart field `{name}` has invalid base64: {error}"
                            ))
                        })?
                    }
                    _ => {
                        return Err(Error::InvalidInput(format!(
                            "the multipart field `{name}` needs a string `content` or `base64`"
                        )))
                    }
                };
                let text = |key: &str| part.get(key).and_then(|v| v.as_str()).map(str::to_string);
                (content, text("filename"), text("content_type"))
            }
            _ => {
                return Err(Error::InvalidInput(format!(
                    "the multipart field `{name}` must be a string or an object"
                )))
            }
        };
        bytes.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(filename) = &filename {
            check_part_text(filename, "file name")?;
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        bytes.extend_from_slice(disposition.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        if let Some(content_type) = &content_type {
            check_part_text(content_type, "content type")?;
            bytes.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        if content
            .windows(boundary.len())
            .any(|window| window == boundary.as_bytes())
        {
            return Err(Error::InvalidInput(format!(
                "the multipart field `{name}` contains the boundary"
            )));
        }
        bytes.extend_from_slice(&content);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(Body {
        bytes,
        content_type: format!("multipart/form-data; boundary={boundary}"),
    })
}

/// Rejects quotes and line breaks, which would end a quoted multipart header value early.
fn check_part_text(text: &str, what: &str) -> Result<(), Error> {
    if text.contains(['"', '\r', '\n', '\0']) {
        return Err(Error::InvalidInput(format!(
            "the multipart {what} `{}` contains a quote or line break",
            text.escape_default()
        )));
    }
    Ok(())
}

/// Derives the boundary from the body, so the same input gives the same request. The check
/// above rejects the rare body that contains it.
fn boundary_seed(value: &serde_json::Value) -> u64 {
    // FNV-1a, 64 bits.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in value.to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::json;

    use super::*;

    fn base() -> Url {
        Url::parse("https://api.test/v1").unwrap()
    }

    #[test]
    fn path_joins_under_base() {
        assert_eq!(
            join(&base(), "users/7").unwrap().as_str(),
            "https://api.test/v1/users/7"
        );
        assert_eq!(
            join(&base(), "/users").unwrap().as_str(),
            "https://api.test/v1/users"
        );
        assert_eq!(join(&base(), "").unwrap().as_str(), "https://api.test/v1");
        assert_eq!(
            join(&base(), "@me").unwrap().as_str(),
            "https://api.test/v1/@me"
        );
        assert_eq!(
            join(&base(), "files:batchGet").unwrap().as_str(),
            "https://api.test/v1/files:batchGet"
        );
    }

    #[test]
    fn path_cannot_change_host() {
        for path in [
            "//evil.test/x",
            "https://evil.test/v1/x",
            "http://api.test/v1/x",
            "https://api.test:8443/v1/x",
            "\\\\evil.test/x",
            "https://user@api.test/v1/x",
        ] {
            let result = join(&base(), path);

            assert!(result.is_err(), "{path} gave {result:?}");
        }
    }

    #[test]
    fn userinfo_trick_stays_in_path() {
        let joined = join(&Url::parse("https://api.test").unwrap(), "@evil.test/x").unwrap();

        assert_eq!(joined.host_str(), Some("api.test"));
        assert_eq!(joined.path(), "/@evil.test/x");
    }

    #[test]
    fn absolute_url_on_same_origin_is_kept() {
        let joined = join(&base(), "https://api.test/v1/next?page=2").unwrap();

        assert_eq!(joined.as_str(), "https://api.test/v1/next?page=2");
    }

    #[test]
    fn dot_segments_cannot_leave_base_path() {
        for path in ["../admin", "a/../../admin", "%2e%2e/admin", "/.%2E/admin"] {
            let result = join(&base(), path);

            assert!(result.is_err(), "{path} gave {result:?}");
        }
    }

    #[test]
    fn query_values_encoded_once() {
        let mut url = base();
        let query = json!({"q": "a b&c=d/é%", "list": [1, true], "skip": null});

        set_query(
            &mut url,
            &[("k".into(), "v 1".into())],
            query.as_object(),
            false,
        )
        .unwrap();

        assert_eq!(
            url.query(),
            Some("k=v%201&list=1&list=true&q=a%20b%26c%3Dd%2F%C3%A9%25")
        );
    }

    #[test]
    fn encoded_query_passes_through() {
        let mut url = Url::parse("https://api.test/v1?x=1").unwrap();
        let query = json!({"q": "a%20b%2Fc"});

        set_query(&mut url, &[], query.as_object(), true).unwrap();

        assert_eq!(url.query(), Some("x=1&q=a%20b%2Fc"));
    }

    #[test]
    fn encoded_query_rejects_raw_characters() {
        let mut url = base();

        let space = set_query(&mut url, &[], json!({"q": "a b"}).as_object(), true);
        let percent = set_query(&mut url, &[], json!({"q": "100%"}).as_object(), true);

        assert!(space.is_err());
        assert!(percent.is_err());
    }

    #[test]
    fn form_body_is_urlencoded() {
        let body = body(&json!({"a": "x y", "b": ["1", "2"]}), "form").unwrap();

        assert_eq!(String::from_utf8(body.bytes).unwrap(), "a=x%20y&b=1&b=2");
        assert_eq!(body.content_type, "application/x-www-form-urlencoded");
    }

    #[test]
    fn multipart_body_has_parts() {
        let value = json!({
            "note": "hi",
            "file": {"filename": "a.txt", "content_type": "text/plain", "base64": "AAE="}
        });

        let body = body(&value, "multipart").unwrap();

        let boundary = body
            .content_type
            .split("boundary=")
            .nth(1)
            .unwrap()
            .to_string();
        let expected = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
             Content-Type: text/plain\r\n\r\n\u{0}\u{1}\r\n--{boundary}\r\n\
             Content-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--{boundary}--\r\n"
        );
        assert_eq!(String::from_utf8(body.bytes).unwrap(), expected);
    }

    #[test]
    fn multipart_name_with_quote_rejected() {
        let result = body(&json!({"a\"b": "x"}), "multipart");

        assert!(result.is_err());
    }

    #[test]
    fn header_checks() {
        assert!(check_header("x-api-key", "abc").is_ok());
        assert!(check_header("bad name", "abc").is_err());
        assert!(check_header("x", "a\nb").is_err());
    }
}
