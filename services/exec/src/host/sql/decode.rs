//! Decodes result columns into WIT values by their database type.
//!
//! The WIT `value` has no case for decimals, dates, UUIDs, JSON or arrays, so they travel as
//! text: decimals as their exact digits, dates and times in RFC 3339 form, JSON and arrays as
//! JSON text. The connector reads the text by the column's type name.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use sqlx::postgres::{PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::{Column, Decode, Postgres, Row, Type, TypeInfo, ValueRef};
use uuid::Uuid;

use super::numeric::numeric_to_string;
use crate::runtime_bindings::sql::{Column as ColumnInfo, Value};

/// A result row of any engine.
pub(super) trait DecodeRow {
    /// Returns the row's columns with their type names.
    fn column_list(&self) -> Vec<ColumnInfo>;

    fn width(&self) -> usize;

    /// Decodes one column into a WIT value by its type name, as `column_list` gives it. A type
    /// without a mapping becomes a text note asking for a cast.
    fn decode_value(&self, index: usize, type_name: &str) -> Value;
}

/// Returns the columns of a sqlx 0.8 row with their type names.
fn columns_of<R: Row>(row: &R) -> Vec<ColumnInfo> {
    row.columns()
        .iter()
        .map(|column| ColumnInfo {
            name: column.name().to_string(),
            type_name: column.type_info().name().to_string(),
        })
        .collect()
}

pub(super) fn unsupported(type_name: &str) -> Value {
    Value::Text(format!(
        "<unsupported type {type_name}; cast the column to text>"
    ))
}

pub(super) fn text(value: impl ToString) -> Value {
    Value::Text(value.to_string())
}

fn json_text<T: serde::Serialize>(value: &T) -> Value {
    Value::Text(serde_json::to_string(value).unwrap_or_default())
}

pub(super) fn rfc3339_utc(value: DateTime<Utc>) -> String {
    value.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Formats a timestamp without time zone as an RFC 3339 date-time without an offset, because
/// the database stored none.
pub(super) fn rfc3339_local(value: NaiveDateTime) -> String {
    value.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

/// A PostgreSQL `NUMERIC` as its exact decimal text.
struct NumericText(String);

impl Type<Postgres> for NumericText {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("NUMERIC")
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        ty.name() == "NUMERIC"
    }
}

impl PgHasArrayType for NumericText {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("_NUMERIC")
    }

    fn array_compatible(ty: &PgTypeInfo) -> bool {
        ty.name() == "NUMERIC[]"
    }
}

impl<'r> Decode<'r, Postgres> for NumericText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(NumericText(numeric_to_string(value.as_bytes()?)?))
    }
}

impl serde::Serialize for NumericText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl DecodeRow for sqlx::postgres::PgRow {
    fn column_list(&self) -> Vec<ColumnInfo> {
        columns_of(self)
    }

    fn width(&self) -> usize {
        self.len()
    }

    fn decode_value(&self, index: usize, name: &str) -> Value {
        let Ok(raw) = self.try_get_raw(index) else {
            return Value::Null;
        };
        if raw.is_null() {
            return Value::Null;
        }
        let decoded = match name {
            "BOOL" => self.try_get::<bool, _>(index).map(Value::Boolean),
            "INT2" => self
                .try_get::<i16, _>(index)
                .map(|n| Value::Integer(n.into())),
            "INT4" => self
                .try_get::<i32, _>(index)
                .map(|n| Value::Integer(n.into())),
            "INT8" => self.try_get::<i64, _>(index).map(Value::Integer),
            "OID" => self
                .try_get::<sqlx::postgres::types::Oid, _>(index)
                .map(|n| Value::Integer(n.0.into())),
            "FLOAT4" => self
                .try_get::<f32, _>(index)
                .map(|n| Value::Float(n.into())),
            "FLOAT8" => self.try_get::<f64, _>(index).map(Value::Float),
            "NUMERIC" => self
                .try_get::<NumericText, _>(index)
                .map(|n| Value::Text(n.0)),
            "BYTEA" => self.try_get::<Vec<u8>, _>(index).map(Value::Bytes),
            "JSON" | "JSONB" => self
                .try_get::<serde_json::Value, _>(index)
                .map(|json| Value::Text(json.to_string())),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" => {
                self.try_get::<String, _>(index).map(Value::Text)
            }
            "UUID" => self.try_get::<Uuid, _>(index).map(text),
            "DATE" => self.try_get::<NaiveDate, _>(index).map(text),
            "TIME" => self.try_get::<NaiveTime, _>(index).map(text),
            "TIMESTAMP" => self
                .try_get::<NaiveDateTime, _>(index)
                .map(|t| Value::Text(rfc3339_local(t))),
            "TIMESTAMPTZ" => self
                .try_get::<DateTime<Utc>, _>(index)
                .map(|t| Value::Text(rfc3339_utc(t))),
            _ if name.ends_with("[]") => return self.decode_array(index, name),
            _ => return unsupported(name),
        };
        decoded.unwrap_or_else(|_| unsupported(name))
    }
}

trait DecodeArray {
    fn decode_array(&self, index: usize, name: &str) -> Value;
}

impl DecodeArray for sqlx::postgres::PgRow {
    /// Decodes a one-dimensional array as JSON text, with elements mapped as above.
    fn decode_array(&self, index: usize, name: &str) -> Value {
        let element = name.trim_end_matches("[]");
        let decoded = match element {
            "BOOL" => self
                .try_get::<Vec<Option<bool>>, _>(index)
                .map(|v| json_text(&v)),
            "INT2" => self
                .try_get::<Vec<Option<i16>>, _>(index)
                .map(|v| json_text(&v)),
            "INT4" => self
                .try_get::<Vec<Option<i32>>, _>(index)
                .map(|v| json_text(&v)),
            "INT8" => self
                .try_get::<Vec<Option<i64>>, _>(index)
                .map(|v| json_text(&v)),
            "FLOAT4" => self
                .try_get::<Vec<Option<f32>>, _>(index)
                .map(|v| json_text(&v)),
            "FLOAT8" => self
                .try_get::<Vec<Option<f64>>, _>(index)
                .map(|v| json_text(&v)),
            "NUMERIC" => self
                .try_get::<Vec<Option<NumericText>>, _>(index)
                .map(|v| json_text(&v)),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => self
                .try_get::<Vec<Option<String>>, _>(index)
                .map(|v| json_text(&v)),
            "UUID" => self
                .try_get::<Vec<Option<Uuid>>, _>(index)
                .map(|v| json_text(&v)),
            "JSON" | "JSONB" => self
                .try_get::<Vec<Option<serde_json::Value>>, _>(index)
                .map(|v| json_text(&v)),
            "DATE" => self
                .try_get::<Vec<Option<NaiveDate>>, _>(index)
                .map(|v| json_text(&v)),
            "TIMESTAMPTZ" => self
                .try_get::<Vec<Option<DateTime<Utc>>>, _>(index)
                .map(|v| {
                    let items: Vec<Option<String>> =
                        v.into_iter().map(|t| t.map(rfc3339_utc)).collect();
                    json_text(&items)
                }),
            _ => return unsupported(name),
        };
        decoded.unwrap_or_else(|_| unsupported(name))
    }
}

impl DecodeRow for sqlx::sqlite::SqliteRow {
    fn column_list(&self) -> Vec<ColumnInfo> {
        columns_of(self)
    }

    fn width(&self) -> usize {
        self.len()
    }

    /// SQLite stores each value with its own storage class whatever the declared type, so this
    /// decodes by the storage class, and reads integers as booleans in `BOOLEAN` columns.
    fn decode_value(&self, index: usize, declared: &str) -> Value {
        let Ok(raw) = self.try_get_raw(index) else {
            return Value::Null;
        };
        if raw.is_null() {
            return Value::Null;
        }
        let storage = raw.type_info().name().to_string();
        let decoded = match storage.as_str() {
            "INTEGER" if declared == "BOOLEAN" => {
                self.try_get::<bool, _>(index).map(Value::Boolean)
            }
            "INTEGER" => self.try_get_unchecked::<i64, _>(index).map(Value::Integer),
            "REAL" => self.try_get_unchecked::<f64, _>(index).map(Value::Float),
            "BLOB" => self
                .try_get_unchecked::<Vec<u8>, _>(index)
                .map(Value::Bytes),
            _ => self.try_get_unchecked::<String, _>(index).map(Value::Text),
        };
        decoded.unwrap_or_else(|_| unsupported(&storage))
    }
}
