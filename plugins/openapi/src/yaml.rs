//! YAML to JSON without an intermediate tree: the parser's events build the JSON value
//! directly, so a large specification needs little memory beyond the value itself. Scalars
//! resolve by YAML 1.2's core schema; keys stay the text they were written as (`200` is the key
//! `"200"`); anchors, aliases and `<<` merge keys work.

use std::collections::HashMap;

use trellis_connector_sdk::serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A parse error with its 1-based line and column.
#[derive(Debug, PartialEq)]
pub(crate) struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: usize,
    },
    Mapping {
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    root: Option<Value>,
    error: Option<YamlError>,
}

impl Builder {
    fn fail(&mut self, mark: Marker, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                line: mark.line(),
                column: mark.col() + 1,
                message,
            });
        }
    }

    /// Places a finished value: into the enclosing sequence or mapping, or as the root.
    fn place(&mut self, value: Value, anchor: usize, mark: Marker) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(value);
                }
            }
            Some(Frame::Sequence { items, .. }) => items.push(value),
            Some(Frame::Mapping { map, key, .. }) => match key.take() {
                None => match value {
                    Value::String(text) => *key = Some(text),
                    Value::Number(n) => *key = Some(n.to_string()),
                    Value::Bool(b) => *key = Some(b.to_string()),
                    Value::Null => *key = Some("null".into()),
                    _ => self.fail(mark, "a mapping key must be a scalar".into()),
                },
                Some(key) if key == "<<" => merge(map, value),
                Some(key) => {
                    map.insert(key, value);
                }
            },
        }
    }

    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Mapping { key: None, .. }))
    }
}

/// `<<: *base` or `<<: [*a, *b]`: keys the mapping does not have yet are copied in.
fn merge(map: &mut Map<String, Value>, value: Value) {
    let sources = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    for source in sources {
        if let Value::Object(entries) = source {
            for (key, value) in entries {
                map.entry(key).or_insert(value);
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = if self.expects_key() {
                    Value::String(text)
                } else {
                    let is_str_tag = tag.as_ref().is_some_and(|tag| tag.suffix == "str");
                    if style == TScalarStyle::Plain && !is_str_tag {
                        resolve(text)
                    } else {
                        Value::String(text)
                    }
                };
                self.place(value, anchor, mark);
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor).cloned() {
                Some(value) => self.place(value, 0, mark),
                None => self.fail(mark, "an alias refers to an unknown anchor".into()),
            },
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Sequence {
                items: Vec::new(),
                anchor,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Mapping {
                map: Map::new(),
                key: None,
                anchor,
            }),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Sequence { items, anchor }) => {
                    self.place(Value::Array(items), anchor, mark)
                }
                Some(Frame::Mapping { map, anchor, .. }) => {
                    self.place(Value::Object(map), anchor, mark)
                }
                None => {}
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// A plain scalar by YAML 1.2's core schema: null, booleans, integers and floats; the rest,
/// and numbers JSON cannot hold (`.inf`, `.nan`), are strings.
fn resolve(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(&text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = text.trim_start_matches('+').parse::<u64>() {
            return Value::Number(n.into());
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(n) = i64::from_str_radix(hex, 16) {
            return Value::Number(n.into());
        }
    }
    if let Some(octal) = text.strip_prefix("0o") {
        if let Ok(n) = i64::from_str_radix(octal, 8) {
            return Value::Number(n.into());
        }
    }
    if is_float(unsigned) {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text)
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(index) => (&text[..index], Some(&text[index + 1..])),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// Parses the first document of a YAML stream.
pub(crate) fn parse(text: &str) -> Result<Value, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, false)
        .map_err(|error| YamlError {
            line: error.marker().line(),
            column: error.marker().col() + 1,
            message: error.info().to_string(),
        })?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(builder.root.unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_connector_sdk::json;

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let value = parse(
            "a: 1\nb: -2.5\nc: true\nd: ~\ne: '1'\nf: 3.0.0\ng: yes\nh: 1e3\ni: .inf\nj: !!str 5\nk: 0x1f\n",
        )
        .unwrap();
        assert_eq!(
            value,
            json!({"a": 1, "b": -2.5, "c": true, "d": null, "e": "1", "f": "3.0.0", "g": "yes",
                   "h": 1000.0, "i": ".inf", "j": "5", "k": 31})
        );
    }

    #[test]
    fn keys_keep_their_text() {
        let value = parse("responses:\n  200: {description: ok}\n  1.10: x\n").unwrap();
        assert_eq!(
            value,
            json!({"responses": {"200": {"description": "ok"}, "1.10": "x"}})
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let value = parse(
            "base: &b {type: string, maxLength: 5}\nname: *b\nnote:\n  <<: *b\n  maxLength: 9\nlist: [&x 1, *x]\n",
        )
        .unwrap();
        assert_eq!(value["name"], json!({"type": "string", "maxLength": 5}));
        assert_eq!(value["note"], json!({"type": "string", "maxLength": 9}));
        assert_eq!(value["list"], json!([1, 1]));
    }

    #[test]
    fn block_scalars_are_strings() {
        let value = parse("d: |\n  line one\n  line two\nf: >\n  folded\n  text\n").unwrap();
        assert_eq!(
            value,
            json!({"d": "line one\nline two\n", "f": "folded text\n"})
        );
    }

    #[test]
    fn errors_have_one_based_lines() {
        let error = parse("a: 1\nb:\n\t- x\n").unwrap_err();
        assert_eq!(error.line, 3, "{error:?}");
        let error = parse("a: [1, 2\n").unwrap_err();
        assert!(error.line >= 1, "{error:?}");
    }
}
