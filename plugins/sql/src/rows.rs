//! Turns rows from the host into JSON objects, reading each value by its column type.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use trellis_connector_sdk::sql::{TypedRows, Value};
use trellis_connector_sdk::{json, serde_json};

/// Returns `{columns: [{name, type}], rows: [{column: value}], row_count, truncated}`. When two
/// columns share a name, the row object keeps the last one.
pub(crate) fn to_json(result: TypedRows) -> serde_json::Value {
    let columns: Vec<serde_json::Value> = result
        .columns
        .iter()
        .map(|column| json!({ "name": column.name, "type": column.type_name }))
        .collect();
    let rows: Vec<serde_json::Value> = result
        .rows
        .iter()
        .map(|row| {
            let fields = result.columns.iter().zip(row).map(|(column, value)| {
                (column.name.clone(), to_json_value(value, &column.type_name))
            });
            serde_json::Value::Object(fields.collect())
        })
        .collect();
    json!({
        "columns": columns,
        "row_count": rows.len(),
        "rows": rows,
        "truncated": result.truncated,
    })
}

/// Converts one value. The host sends JSON, arrays, decimals, dates and UUIDs as text; JSON
/// and array text is parsed back into JSON, the rest stays a string so no precision is lost.
pub(crate) fn to_json_value(value: &Value, type_name: &str) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(flag) => (*flag).into(),
        Value::Integer(number) => (*number).into(),
        Value::Float(number) if number.is_finite() => (*number).into(),
        // JSON has no NaN or infinity, so they travel as the strings PostgreSQL prints.
        Value::Float(number) if number.is_nan() => "NaN".into(),
        Value::Float(number) if *number > 0.0 => "Infinity".into(),
        Value::Float(_) => "-Infinity".into(),
        Value::Text(text) if holds_json(type_name) => {
            serde_json::from_str(text).unwrap_or_else(|_| text.clone().into())
        }
        Value::Text(text) => text.clone().into(),
        Value::Bytes(bytes) => BASE64.encode(bytes).into(),
    }
}

fn holds_json(type_name: &str) -> bool {
    let upper = type_name.to_ascii_uppercase();
    upper == "JSON" || upper == "JSONB" || upper.ends_with("[]")
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::sql::Column;

    use super::*;

    fn column(name: &str, type_name: &str) -> Column {
        Column {
            name: name.into(),
            type_name: type_name.into(),
        }
    }

    #[test]
    fn values_map_by_column_type() {
        let rows = TypedRows {
            columns: vec![
                column("id", "INT8"),
                column("price", "NUMERIC"),
                column("doc", "JSONB"),
                column("tags", "TEXT[]"),
                column("blob", "BYTEA"),
                column("gone", "TEXT"),
            ],
            rows: vec![vec![
                Value::Integer(1),
                Value::Text("12345678901234567890.12".into()),
                Value::Text("{\"a\":[1,2]}".into()),
                Value::Text("[\"x\",null]".into()),
                Value::Bytes(vec![0, 255]),
                Value::Null,
            ]],
            truncated: false,
        };

        let output = to_json(rows);

        assert_eq!(output["rows"][0]["id"], json!(1));
        assert_eq!(output["rows"][0]["price"], json!("12345678901234567890.12"));
        assert_eq!(output["rows"][0]["doc"], json!({"a": [1, 2]}));
        assert_eq!(output["rows"][0]["tags"], json!(["x", null]));
        assert_eq!(output["rows"][0]["blob"], json!("AP8="));
        assert_eq!(output["rows"][0]["gone"], serde_json::Value::Null);
        assert_eq!(
            output["columns"][1],
            json!({"name": "price", "type": "NUMERIC"})
        );
        assert_eq!(output["row_count"], json!(1));
        assert_eq!(output["truncated"], json!(false));
    }

    #[test]
    fn non_finite_floats_become_strings() {
        assert_eq!(
            to_json_value(&Value::Float(f64::NAN), "FLOAT8"),
            json!("NaN")
        );
        assert_eq!(
            to_json_value(&Value::Float(f64::INFINITY), "FLOAT8"),
            json!("Infinity")
        );
        assert_eq!(
            to_json_value(&Value::Float(f64::NEG_INFINITY), "FLOAT8"),
            json!("-Infinity")
        );
    }

    #[test]
    fn invalid_json_text_stays_string() {
        let value = to_json_value(&Value::Text("<unsupported>".into()), "POINT[]");

        assert_eq!(value, json!("<unsupported>"));
    }
}
