//! Decodes a response body by its declared content type and charset.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use trellis_connector_sdk::{json, serde_json};

/// Windows-1252 characters for bytes 0x80 to 0x9F; the other bytes match ISO-8859-1.
/// Undefined bytes map to U+FFFD.
const WINDOWS_1252_HIGH: [char; 32] = [
    '€', '\u{FFFD}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{FFFD}', 'Ž',
    '\u{FFFD}', '\u{FFFD}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{FFFD}',
    'ž', 'Ÿ',
];

/// A content type split into its lowercase media type and charset parameter.
#[derive(Debug, PartialEq)]
pub(crate) struct ContentType {
    pub media_type: String,
    pub charset: Option<String>,
}

impl ContentType {
    pub fn parse(header: Option<&str>) -> Self {
        let header = header.unwrap_or_default();
        let mut parts = header.split(';');
        let media_type = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let charset = parts.find_map(|part| {
            let (name, value) = part.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("charset") {
                return None;
            }
            Some(value.trim().trim_matches('"').to_ascii_lowercase())
        });
        ContentType {
            media_type,
            charset,
        }
    }

    fn is_json(&self) -> bool {
        self.media_type == "application/json" || self.media_type.ends_with("+json")
    }

    fn is_text(&self) -> bool {
        self.media_type.starts_with("text/")
            || self.media_type.ends_with("+xml")
            || matches!(
                self.media_type.as_str(),
                "application/xml"
                    | "application/javascript"
                    | "application/x-www-form-urlencoded"
                    | "application/graphql"
            )
    }
}

/// Decodes bytes in a charset; returns None for a charset this connector does not know.
pub(crate) fn decode_text(bytes: &[u8], charset: Option<&str>) -> Option<String> {
    match charset.unwrap_or("utf-8") {
        "utf-8" | "utf8" | "us-ascii" | "ascii" => {
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
        "iso-8859-1" | "latin1" | "latin-1" | "l1" => {
            Some(bytes.iter().map(|&byte| char::from(byte)).collect())
        }
        "windows-1252" | "cp1252" => Some(
            bytes
                .iter()
                .map(|&byte| match byte {
                    0x80..=0x9F => WINDOWS_1252_HIGH[usize::from(byte - 0x80)],
                    _ => char::from(byte),
                })
                .collect(),
        ),
        "utf-16le" | "utf-16be" | "utf-16" => {
            let little = charset != Some("utf-16be");
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|pair| {
                    let pair = [pair[0], *pair.get(1).unwrap_or(&0)];
                    if little {
                        u16::from_le_bytes(pair)
                    } else {
                        u16::from_be_bytes(pair)
                    }
                })
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        _ => None,
    }
}

/// Returns the body as JSON, text or base64, with the encoding used: `json`, `text` or
/// `base64`. A JSON body that does not parse is returned as text, and a body without a content
/// type is text when it is valid UTF-8.
pub(crate) fn decode_body(
    bytes: &[u8],
    content_type: Option<&str>,
) -> (serde_json::Value, &'static str) {
    let content_type = ContentType::parse(content_type);
    if content_type.is_json() || content_type.is_text() {
        if let Some(text) = decode_text(bytes, content_type.charset.as_deref()) {
            if content_type.is_json() {
                if let Ok(value) = serde_json::from_str(&text) {
                    return (value, "json");
                }
            }
            return (text.into(), "text");
        }
    }
    if content_type.media_type.is_empty() {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return (text.into(), "text");
        }
    }
    (BASE64.encode(bytes).into(), "base64")
}

/// Returns the headers as an object of lowercase names; repeated headers are joined with
/// `, ` (RFC 9110, section 5.3), except `set-cookie`, which becomes a list.
pub(crate) fn headers_object(headers: &[(String, String)]) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        match object.get_mut(&name) {
            None if name == "set-cookie" => {
                object.insert(name, json!([value]));
            }
            None => {
                object.insert(name, value.clone().into());
            }
            Some(serde_json::Value::Array(items)) => items.push(value.clone().into()),
            Some(existing) => {
                let joined = format!("{}, {value}", existing.as_str().unwrap_or_default());
                *existing = joined.into();
            }
        }
    }
    serde_json::Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_parses_charset() {
        let parsed = ContentType::parse(Some("Text/HTML; Charset=\"ISO-8859-1\""));

        assert_eq!(parsed.media_type, "text/html");
        assert_eq!(parsed.charset.as_deref(), Some("iso-8859-1"));
    }

    #[test]
    fn json_body_is_parsed() {
        let (value, encoding) = decode_body(br#"{"a":1}"#, Some("application/problem+json"));

        assert_eq!(value, json!({"a": 1}));
        assert_eq!(encoding, "json");
    }

    #[test]
    fn latin1_text_is_decoded() {
        let (value, encoding) = decode_body(
            &[0x63, 0x61, 0x66, 0xE9],
            Some("text/plain; charset=iso-8859-1"),
        );

        assert_eq!(value, json!("café"));
        assert_eq!(encoding, "text");
    }

    #[test]
    fn windows_1252_maps_high_bytes() {
        assert_eq!(
            decode_text(&[0x80, 0x93, 0x94], Some("windows-1252")).unwrap(),
            "€“”"
        );
    }

    #[test]
    fn utf16_text_is_decoded() {
        assert_eq!(
            decode_text(&[0x68, 0x00, 0x69, 0x00], Some("utf-16le")).unwrap(),
            "hi"
        );
    }

    #[test]
    fn binary_and_unknown_charset_become_base64() {
        let (binary, binary_encoding) = decode_body(&[0, 255], Some("image/png"));
        let (unknown, _) = decode_body(b"x", Some("text/plain; charset=koi8-r"));

        assert_eq!(binary, json!("AP8="));
        assert_eq!(binary_encoding, "base64");
        assert_eq!(unknown, json!("eA=="));
    }

    #[test]
    fn invalid_json_falls_back_to_text() {
        let (value, encoding) = decode_body(b"not json", Some("application/json"));

        assert_eq!(value, json!("not json"));
        assert_eq!(encoding, "text");
    }

    #[test]
    fn repeated_headers_are_joined() {
        let headers = vec![
            ("Vary".to_string(), "a".to_string()),
            ("vary".to_string(), "b".to_string()),
            ("set-cookie".to_string(), "x=1".to_string()),
            ("Set-Cookie".to_string(), "y=2".to_string()),
        ];

        let object = headers_object(&headers);

        assert_eq!(object["vary"], json!("a, b"));
        assert_eq!(object["set-cookie"], json!(["x=1", "y=2"]));
    }
}
