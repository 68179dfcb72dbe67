//! Rendering of an action's input over the run's parameters.
//!
//! Every string in the input is a minijinja template with the parameters as its variables.
//! Undefined variables are errors, templates cannot load other templates, and rendering has
//! no I/O. A string that is exactly one `{{ expr }}` becomes the expression's value with its
//! JSON type, so `"{{ ids }}"` with an array parameter is an array and a null stays null. Inside
//! longer text, null renders as empty text.
//!
//! SQL fields (input properties the connector marks `"x-trellis-sql": true`) are not rendered.
//! Their `{{ }}` expressions are evaluated into the input's top-level `bindings` list, one value
//! per expression in order. The connector binds those values as parameters, so a parameter
//! cannot change the SQL text.

use std::collections::HashSet;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

/// Instructions one template or expression may execute before rendering fails.
const FUEL: u64 = 100_000;

/// Name of the input field that carries the values of the SQL bindings.
pub const BINDINGS_FIELD: &str = "bindings";

/// A template that failed to render, with the dotted path of its input field.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderError {
    pub field: String,
    pub message: String,
}

/// Builds the locked-down environment every run renders with.
fn environment<'source>() -> Environment<'source> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_fuel(Some(FUEL));
    environment.set_formatter(|out, state, value| {
        if value.is_none() {
            return Ok(());
        }
        minijinja::escape_formatter(out, state, value)
    });
    environment
}

/// Renders an action's input. `sql_fields` names the top-level input properties that hold
/// SQL; their expressions become `bindings`.
pub fn render_input(
    input: &Value,
    params: &Map<String, Value>,
    sql_fields: &[String],
) -> Result<Value, RenderError> {
    let environment = environment();
    let mut bindings = Vec::new();

    let rendered = match input {
        Value::Object(fields) => {
            let mut rendered = Map::new();
            for (name, value) in fields {
                let path = format!("input.{name}");
                let value = match value {
                    Value::String(sql) if sql_fields.contains(name) => {
                        bindings.extend(evaluate_sql_bindings(&environment, sql, params, &path)?);
                        value.clone()
                    }
                    other => render_value(&environment, other, params, &path)?,
                };
                rendered.insert(name.clone(), value);
            }
            if !bindings.is_empty() {
                rendered.insert(BINDINGS_FIELD.into(), Value::Array(bindings));
            }
            Value::Object(rendered)
        }
        other => render_value(&environment, other, params, "input")?,
    };
    Ok(rendered)
}

fn render_value<'source>(
    environment: &Environment<'source>,
    value: &'source Value,
    params: &Map<String, Value>,
    path: &str,
) -> Result<Value, RenderError> {
    match value {
        Value::String(text) => render_string(environment, text, params, path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                render_value(environment, item, params, &format!("{path}.{index}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(fields) => {
            let mut rendered = Map::new();
            for (name, item) in fields {
                let item = render_value(environment, item, params, &format!("{path}.{name}"))?;
                rendered.insert(name.clone(), item);
            }
            Ok(Value::Object(rendered))
        }
        other => Ok(other.clone()),
    }
}

fn render_string<'source>(
    environment: &Environment<'source>,
    text: &'source str,
    params: &Map<String, Value>,
    path: &str,
) -> Result<Value, RenderError> {
    if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
        return Ok(Value::String(text.to_string()));
    }
    if let Some(expression) = sole_expression(text) {
        return evaluate(environment, expression, params, path);
    }
    let template = environment
        .template_from_str(text)
        .map_err(|error| render_error(path, &error))?;
    check_defined(
        environment,
        template.undeclared_variables(false),
        params,
        path,
    )?;
    template
        .render(params)
        .map(Value::String)
        .map_err(|error| render_error(path, &error))
}

/// Names the first variable a template uses that is neither a parameter nor a global.
fn check_defined(
    environment: &Environment<'_>,
    variables: HashSet<String>,
    params: &Map<String, Value>,
    path: &str,
) -> Result<(), RenderError> {
    let mut missing: Vec<String> = variables
        .into_iter()
        .filter(|name| !params.contains_key(name))
        .filter(|name| !environment.globals().any(|(global, _)| global == name))
        .collect();
    missing.sort();
    match missing.first() {
        None => Ok(()),
        Some(name) => Err(RenderError {
            field: path.to_string(),
            message: format!("`{path}` uses the parameter `{name}`, which is missing"),
        }),
    }
}

/// Returns the expression of a string that is exactly one `{{ expr }}` and nothing else.
fn sole_expression(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("{{")?.strip_suffix("}}")?;
    let blocked = ["{{", "}}", "{%", "%}", "{#", "#}"];
    if blocked.iter().any(|marker| inner.contains(marker)) {
        return None;
    }
    Some(inner.trim())
}

fn evaluate(
    environment: &Environment<'_>,
    expression: &str,
    params: &Map<String, Value>,
    path: &str,
) -> Result<Value, RenderError> {
    let compiled = environment
        .compile_expression_owned(expression.to_string())
        .map_err(|error| render_error(path, &error))?;
    check_defined(
        environment,
        compiled.undeclared_variables(false),
        params,
        path,
    )?;
    let value = compiled
        .eval(params)
        .map_err(|error| render_error(path, &error))?;
    if value.is_undefined() {
        return Err(RenderError {
            field: path.to_string(),
            message: format!("`{path}` uses `{expression}`, which is undefined"),
        });
    }
    serde_json::to_value(&value).map_err(|error| RenderError {
        field: path.to_string(),
        message: format!("`{path}` produced a value that is not JSON: {error}"),
    })
}

fn evaluate_sql_bindings<'source>(
    environment: &Environment<'source>,
    sql: &'source str,
    params: &Map<String, Value>,
    path: &str,
) -> Result<Vec<Value>, RenderError> {
    let template = trellis_sql_template::parse(sql).map_err(|error| RenderError {
        field: path.to_string(),
        message: format!("`{path}` is not a valid SQL template: {error}"),
    })?;
    template
        .expressions()
        .into_iter()
        .map(|expression| evaluate(environment, expression, params, path))
        .collect()
}

fn render_error(path: &str, error: &minijinja::Error) -> RenderError {
    let mut message = format!("`{path}` failed to render: {}", error.kind());
    if let Some(detail) = error.detail() {
        message.push_str(": ");
        message.push_str(detail);
    }
    RenderError {
        field: path.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(input: Value, params: Value) -> Result<Value, RenderError> {
        let params = params.as_object().cloned().unwrap_or_default();
        render_input(&input, &params, &["sql".to_string()])
    }

    #[test]
    fn sole_expression_keeps_json_type() {
        let output = render(
            json!({"ids": "{{ ids }}", "n": "{{ n }}", "none": "{{ nothing }}"}),
            json!({"ids": [1, 2], "n": 3, "nothing": null}),
        )
        .unwrap();
        assert_eq!(output["ids"], json!([1, 2]));
        assert_eq!(output["n"], json!(3));
        assert_eq!(output["none"], Value::Null);
    }

    #[test]
    fn number_like_strings_stay_strings() {
        let output = render(
            json!({"a": "{{ a }}", "b": "{{ b }}"}),
            json!({"a": "0001", "b": "2104D"}),
        )
        .unwrap();
        assert_eq!(output["a"], json!("0001"));
        assert_eq!(output["b"], json!("2104D"));
    }

    #[test]
    fn repeated_expression_renders_each_time() {
        let output = render(json!({"t": "{{ x }}-{{ x }}"}), json!({"x": "é🐧"})).unwrap();
        assert_eq!(output["t"], json!("é🐧-é🐧"));
    }

    #[test]
    fn null_in_text_renders_empty() {
        let output = render(json!({"t": "a{{ x }}b"}), json!({"x": null})).unwrap();
        assert_eq!(output["t"], json!("ab"));
    }

    #[test]
    fn undefined_variable_names_field() {
        let error = render(json!({"deep": {"t": "{{ missing }}"}}), json!({})).unwrap_err();
        assert_eq!(error.field, "input.deep.t");
        assert!(error.message.contains("`missing`"), "{}", error.message);
        let error = render(json!({"t": "x {{ missing }}"}), json!({})).unwrap_err();
        assert_eq!(error.field, "input.t");
    }

    #[test]
    fn include_is_rejected() {
        let error = render(json!({"t": "{% include 'x' %}"}), json!({})).unwrap_err();
        assert_eq!(error.field, "input.t");
    }

    #[test]
    fn sql_expressions_become_bindings() {
        let output = render(
            json!({"sql": "select * from t where a = {{ a }} and b in ({{ b }})"}),
            json!({"a": "x'; drop table t; --", "b": [1, 2]}),
        )
        .unwrap();
        assert_eq!(
            output["sql"],
            json!("select * from t where a = {{ a }} and b in ({{ b }})")
        );
        assert_eq!(output["bindings"], json!(["x'; drop table t; --", [1, 2]]));
    }

    #[test]
    fn parameters_cannot_inject_templates() {
        let output = render(json!({"t": "{{ x }}"}), json!({"x": "{{ secret }}"})).unwrap();
        assert_eq!(output["t"], json!("{{ secret }}"));
    }
}
