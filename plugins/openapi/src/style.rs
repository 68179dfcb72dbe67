//! Parameter serialization by `style` and `explode` (OpenAPI 3.x, section "Style Values"), and
//! Swagger 2.0's `collectionFormat` mapped onto the same styles. Pure functions: values in,
//! percent-encoded text out.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use trellis_connector_sdk::serde_json::{Map, Value};

/// How a parameter's value becomes text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Simple,
    Label,
    Matrix,
    Form,
    SpaceDelimited,
    PipeDelimited,
    DeepObject,
    /// Swagger 2.0 `collectionFormat: tsv`.
    TabDelimited,
}

impl Style {
    pub fn parse(name: &str) -> Option<Style> {
        Some(match name {
            "simple" => Style::Simple,
            "label" => Style::Label,
            "matrix" => Style::Matrix,
            "form" => Style::Form,
            "spaceDelimited" => Style::SpaceDelimited,
            "pipeDelimited" => Style::PipeDelimited,
            "deepObject" => Style::DeepObject,
            _ => return None,
        })
    }
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// With `allowReserved`, RFC 3986's reserved characters pass as they are, except those that
/// would end the query value or the URL (`&`, `=`, `#`) and `+`, which many servers read as a
/// space.
const RESERVED_ALLOWED: &AsciiSet = &COMPONENT
    .remove(b':')
    .remove(b'/')
    .remove(b'?')
    .remove(b'[')
    .remove(b']')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';');

/// Percent-encodes text for a path segment, query name or value, or form field.
pub(crate) fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

fn encode_value(text: &str, allow_reserved: bool) -> String {
    if allow_reserved {
        utf8_percent_encode(text, RESERVED_ALLOWED).to_string()
    } else {
        encode(text)
    }
}

/// The text of a primitive value. Nested arrays and objects, which no style defines, become
/// their JSON text.
pub(crate) fn primitive_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        other => other.to_string(),
    }
}

/// A value's shape, which decides its serialization.
enum Shape<'a> {
    Primitive(String),
    Array(Vec<String>),
    Object(Vec<(&'a str, String)>),
}

fn shape(value: &Value) -> Shape<'_> {
    match value {
        Value::Array(items) => Shape::Array(items.iter().map(primitive_text).collect()),
        Value::Object(map) => Shape::Object(
            map.iter()
                .map(|(key, value)| (key.as_str(), primitive_text(value)))
                .collect(),
        ),
        other => Shape::Primitive(primitive_text(other)),
    }
}

/// Serializes a path parameter; the result replaces `{name}` in the path template. Styles:
/// simple (the default), label and matrix.
pub(crate) fn path_value(name: &str, value: &Value, style: Style, explode: bool) -> String {
    let e = |text: &str| encode(text);
    match (style, shape(value)) {
        (Style::Label, Shape::Primitive(text)) => format!(".{}", e(&text)),
        (Style::Label, Shape::Array(items)) => {
            let separator = if explode { "." } else { "," };
            format!(".{}", join(items.iter().map(|item| e(item)), separator))
        }
        (Style::Label, Shape::Object(pairs)) => {
            if explode {
                format!(
                    ".{}",
                    join(pairs.iter().map(|(k, v)| format!("{}={}", e(k), e(v))), ".")
                )
            } else {
                format!(".{}", join(flatten(&pairs, e), ","))
            }
        }
        (Style::Matrix, Shape::Primitive(text)) => matrix_pair(&e(name), &e(&text)),
        (Style::Matrix, Shape::Array(items)) => {
            if explode {
                items
                    .iter()
                    .map(|item| matrix_pair(&e(name), &e(item)))
                    .collect()
            } else {
                matrix_pair(&e(name), &join(items.iter().map(|item| e(item)), ","))
            }
        }
        (Style::Matrix, Shape::Object(pairs)) => {
            if explode {
                pairs
                    .iter()
                    .map(|(k, v)| matrix_pair(&e(k), &e(v)))
                    .collect()
            } else {
                matrix_pair(&e(name), &join(flatten(&pairs, e), ","))
            }
        }
        // simple, and any style that is not defined for paths.
        (_, Shape::Primitive(text)) => e(&text),
        (_, Shape::Array(items)) => join(items.iter().map(|item| e(item)), ","),
        (_, Shape::Object(pairs)) => {
            if explode {
                join(pairs.iter().map(|(k, v)| format!("{}={}", e(k), e(v))), ",")
            } else {
                join(flatten(&pairs, e), ",")
            }
        }
    }
}

fn matrix_pair(name: &str, value: &str) -> String {
    if value.is_empty() {
        format!(";{name}")
    } else {
        format!(";{name}={value}")
    }
}

/// Serializes a query parameter (or a form field) into encoded `name=value` pairs. Styles:
/// form (the default), spaceDelimited, pipeDelimited and deepObject; Swagger 2.0's tsv too.
pub(crate) fn query_pairs(
    name: &str,
    value: &Value,
    style: Style,
    explode: bool,
    allow_reserved: bool,
) -> Vec<String> {
    let n = encode(name);
    let v = |text: &str| encode_value(text, allow_reserved);
    if style == Style::DeepObject {
        if let Value::Object(map) = value {
            let mut pairs = Vec::new();
            deep_object(&n, map, allow_reserved, &mut pairs);
            return pairs;
        }
    }
    let delimiter = match style {
        Style::SpaceDelimited => Some("%20"),
        Style::PipeDelimited => Some("%7C"),
        Style::TabDelimited => Some("%09"),
        _ => None,
    };
    match shape(value) {
        Shape::Primitive(text) => vec![format!("{n}={}", v(&text))],
        Shape::Array(items) => {
            if explode {
                items
                    .iter()
                    .map(|item| format!("{n}={}", v(item)))
                    .collect()
            } else {
                let joined = join(items.iter().map(|item| v(item)), delimiter.unwrap_or(","));
                vec![format!("{n}={joined}")]
            }
        }
        Shape::Object(pairs) => {
            if explode && delimiter.is_none() {
                pairs
                    .iter()
                    .map(|(k, text)| format!("{}={}", encode(k), v(text)))
                    .collect()
            } else {
                let joined = join(flatten(&pairs, v), delimiter.unwrap_or(","));
                vec![format!("{n}={joined}")]
            }
        }
    }
}

/// `name[key]=value`, and `name[key][inner]=value` for nested objects; arrays inside repeat
/// `name[key]`.
fn deep_object(
    prefix: &str,
    map: &Map<String, Value>,
    allow_reserved: bool,
    out: &mut Vec<String>,
) {
    for (key, value) in map {
        let name = format!("{prefix}[{}]", encode(key));
        match value {
            Value::Null => {}
            Value::Object(inner) => deep_object(&name, inner, allow_reserved, out),
            Value::Array(items) => {
                for item in items {
                    out.push(format!(
                        "{name}={}",
                        encode_value(&primitive_text(item), allow_reserved)
                    ));
                }
            }
            other => out.push(format!(
                "{name}={}",
                encode_value(&primitive_text(other), allow_reserved)
            )),
        }
    }
}

/// Serializes a header value (style simple). Header values are not percent-encoded.
pub(crate) fn header_value(value: &Value, explode: bool) -> String {
    match shape(value) {
        Shape::Primitive(text) => text,
        Shape::Array(items) => items.join(","),
        Shape::Object(pairs) => {
            if explode {
                join(pairs.iter().map(|(k, v)| format!("{k}={v}")), ",")
            } else {
                join(flatten(&pairs, |text| text.to_string()), ",")
            }
        }
    }
}

/// Serializes a cookie parameter (style form) into `name=value` pairs for the `Cookie` header.
pub(crate) fn cookie_pairs(name: &str, value: &Value, explode: bool) -> Vec<String> {
    let e = |text: &str| encode(text);
    match shape(value) {
        Shape::Primitive(text) => vec![format!("{name}={}", e(&text))],
        Shape::Array(items) => {
            if explode {
                items
                    .iter()
                    .map(|item| format!("{name}={}", e(item)))
                    .collect()
            } else {
                vec![format!(
                    "{name}={}",
                    join(items.iter().map(|item| e(item)), ",")
                )]
            }
        }
        Shape::Object(pairs) => {
            if explode {
                pairs.iter().map(|(k, v)| format!("{k}={}", e(v))).collect()
            } else {
                vec![format!("{name}={}", join(flatten(&pairs, e), ","))]
            }
        }
    }
}

/// `[(k1, v1), (k2, v2)]` as `k1, v1, k2, v2`, each encoded.
fn flatten<'a>(
    pairs: &'a [(&'a str, String)],
    encode: impl Fn(&str) -> String + 'a,
) -> impl Iterator<Item = String> + 'a {
    pairs
        .iter()
        .flat_map(move |(key, value)| [encode(key), encode(value)])
}

fn join(items: impl Iterator<Item = String>, separator: &str) -> String {
    items.collect::<Vec<_>>().join(separator)
}

#[cfg(test)]
mod tests {
    //! The examples of the OpenAPI 3.1 specification's style table, for `color` with the values
    //! `"blue"`, `["blue", "black", "brown"]` and `{"B": 150, "G": 200, "R": 100}`
    //! (serde_json keeps object keys sorted, so the table's R, G, B order becomes B, G, R).

    use super::*;
    use trellis_connector_sdk::json;

    fn primitive() -> Value {
        json!("blue")
    }
    fn array() -> Value {
        json!(["blue", "black", "brown"])
    }
    fn object() -> Value {
        json!({"B": 150, "G": 200, "R": 100})
    }

    #[test]
    fn simple() {
        let s = |value: &Value, explode| path_value("color", value, Style::Simple, explode);
        assert_eq!(s(&primitive(), false), "blue");
        assert_eq!(s(&primitive(), true), "blue");
        assert_eq!(s(&array(), false), "blue,black,brown");
        assert_eq!(s(&array(), true), "blue,black,brown");
        assert_eq!(s(&object(), false), "B,150,G,200,R,100");
        assert_eq!(s(&object(), true), "B=150,G=200,R=100");
    }

    #[test]
    fn label() {
        let s = |value: &Value, explode| path_value("color", value, Style::Label, explode);
        assert_eq!(s(&primitive(), false), ".blue");
        assert_eq!(s(&primitive(), true), ".blue");
        assert_eq!(s(&array(), false), ".blue,black,brown");
        assert_eq!(s(&array(), true), ".blue.black.brown");
        assert_eq!(s(&object(), false), ".B,150,G,200,R,100");
        assert_eq!(s(&object(), true), ".B=150.G=200.R=100");
    }

    #[test]
    fn matrix() {
        let s = |value: &Value, explode| path_value("color", value, Style::Matrix, explode);
        assert_eq!(s(&json!(""), false), ";color");
        assert_eq!(s(&primitive(), false), ";color=blue");
        assert_eq!(s(&primitive(), true), ";color=blue");
        assert_eq!(s(&array(), false), ";color=blue,black,brown");
        assert_eq!(s(&array(), true), ";color=blue;color=black;color=brown");
        assert_eq!(s(&object(), false), ";color=B,150,G,200,R,100");
        assert_eq!(s(&object(), true), ";B=150;G=200;R=100");
    }

    #[test]
    fn form() {
        let s = |value: &Value, explode| {
            query_pairs("color", value, Style::Form, explode, false).join("&")
        };
        assert_eq!(s(&json!(""), false), "color=");
        assert_eq!(s(&primitive(), false), "color=blue");
        assert_eq!(s(&primitive(), true), "color=blue");
        assert_eq!(s(&array(), false), "color=blue,black,brown");
        assert_eq!(s(&array(), true), "color=blue&color=black&color=brown");
        assert_eq!(s(&object(), false), "color=B,150,G,200,R,100");
        assert_eq!(s(&object(), true), "B=150&G=200&R=100");
    }

    #[test]
    fn space_delimited() {
        let s = |value: &Value, explode| {
            query_pairs("color", value, Style::SpaceDelimited, explode, false).join("&")
        };
        assert_eq!(s(&array(), false), "color=blue%20black%20brown");
        assert_eq!(s(&object(), false), "color=B%20150%20G%20200%20R%20100");
        assert_eq!(s(&array(), true), "color=blue&color=black&color=brown");
    }

    #[test]
    fn pipe_delimited() {
        let s = |value: &Value, explode| {
            query_pairs("color", value, Style::PipeDelimited, explode, false).join("&")
        };
        assert_eq!(s(&array(), false), "color=blue%7Cblack%7Cbrown");
        assert_eq!(s(&object(), false), "color=B%7C150%7CG%7C200%7CR%7C100");
    }

    #[test]
    fn deep_object_nests() {
        let s =
            |value: &Value| query_pairs("color", value, Style::DeepObject, true, false).join("&");
        assert_eq!(s(&object()), "color[B]=150&color[G]=200&color[R]=100");
        assert_eq!(
            s(&json!({"a": {"b": "x y"}, "t": [1, 2]})),
            "color[a][b]=x%20y&color[t]=1&color[t]=2"
        );
    }

    #[test]
    fn tab_delimited_for_swagger_tsv() {
        let pairs = query_pairs("ids", &json!([1, 2]), Style::TabDelimited, false, false);
        assert_eq!(pairs, vec!["ids=1%092"]);
    }

    #[test]
    fn values_are_encoded_but_separators_are_not() {
        assert_eq!(
            query_pairs("q", &json!(["a,b", "c&d"]), Style::Form, false, false),
            vec!["q=a%2Cb,c%26d"]
        );
        assert_eq!(
            path_value("id", &json!("a/b c"), Style::Simple, false),
            "a%2Fb%20c"
        );
        assert_eq!(
            query_pairs("q", &json!("a/b?c&d"), Style::Form, true, true),
            vec!["q=a/b?c%26d"]
        );
    }

    #[test]
    fn header_and_cookie() {
        assert_eq!(header_value(&array(), false), "blue,black,brown");
        assert_eq!(header_value(&object(), false), "B,150,G,200,R,100");
        assert_eq!(header_value(&object(), true), "B=150,G=200,R=100");
        assert_eq!(header_value(&json!(5), false), "5");
        assert_eq!(
            cookie_pairs("color", &array(), false),
            vec!["color=blue,black,brown"]
        );
        assert_eq!(
            cookie_pairs("color", &array(), true),
            vec!["color=blue", "color=black", "color=brown"]
        );
        assert_eq!(
            cookie_pairs("color", &json!("a b;"), true),
            vec!["color=a%20b%3B"]
        );
    }
}
