//! Tensors of the Open Inference Protocol: datatypes, shapes and data checked before a request
//! is sent, the records form turned into a tensor, and the check against a model's metadata.

use std::fmt;

use trellis_connector_sdk::{serde_json, Error, Value};

/// The tensor datatypes of the Open Inference Protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Datatype {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Fp16,
    Fp32,
    Fp64,
    Bytes,
}

const ALL: [Datatype; 13] = [
    Datatype::Bool,
    Datatype::Uint8,
    Datatype::Uint16,
    Datatype::Uint32,
    Datatype::Uint64,
    Datatype::Int8,
    Datatype::Int16,
    Datatype::Int32,
    Datatype::Int64,
    Datatype::Fp16,
    Datatype::Fp32,
    Datatype::Fp64,
    Datatype::Bytes,
];

/// Largest finite FP16 value.
const FP16_MAX: f64 = 65504.0;

impl Datatype {
    /// Parses a datatype name such as `FP32`; case does not matter.
    pub fn parse(text: &str) -> Option<Datatype> {
        let upper = text.to_ascii_uppercase();
        ALL.into_iter().find(|datatype| datatype.name() == upper)
    }

    pub fn name(self) -> &'static str {
        match self {
            Datatype::Bool => "BOOL",
            Datatype::Uint8 => "UINT8",
            Datatype::Uint16 => "UINT16",
            Datatype::Uint32 => "UINT32",
            Datatype::Uint64 => "UINT64",
            Datatype::Int8 => "INT8",
            Datatype::Int16 => "INT16",
            Datatype::Int32 => "INT32",
            Datatype::Int64 => "INT64",
            Datatype::Fp16 => "FP16",
            Datatype::Fp32 => "FP32",
            Datatype::Fp64 => "FP64",
            Datatype::Bytes => "BYTES",
        }
    }

    /// The inclusive range of an integer type.
    fn integer_range(self) -> Option<(i128, i128)> {
        let range = match self {
            Datatype::Uint8 => (0, u8::MAX as i128),
            Datatype::Uint16 => (0, u16::MAX as i128),
            Datatype::Uint32 => (0, u32::MAX as i128),
            Datatype::Uint64 => (0, u64::MAX as i128),
            Datatype::Int8 => (i8::MIN as i128, i8::MAX as i128),
            Datatype::Int16 => (i16::MIN as i128, i16::MAX as i128),
            Datatype::Int32 => (i32::MIN as i128, i32::MAX as i128),
            Datatype::Int64 => (i64::MIN as i128, i64::MAX as i128),
            _ => return None,
        };
        Some(range)
    }

    /// Checks that a value fits the type and returns it as sent: an integral float such as
    /// `2.0` becomes the integer `2` for an integer type.
    fn check(self, value: &Value) -> Result<Value, String> {
        match self {
            Datatype::Bool => match value {
                Value::Bool(_) => Ok(value.clone()),
                _ => Err("is not a boolean, as BOOL needs".into()),
            },
            Datatype::Bytes => match value {
                Value::String(_) => Ok(value.clone()),
                _ => Err("is not a string, as BYTES needs".into()),
            },
            Datatype::Fp16 | Datatype::Fp32 | Datatype::Fp64 => {
                let Some(number) = value.as_f64() else {
                    return Err(format!("is not a number, as {} needs", self.name()));
                };
                let max = match self {
                    Datatype::Fp16 => FP16_MAX,
                    Datatype::Fp32 => f32::MAX as f64,
                    _ => f64::MAX,
                };
                if number.abs() > max {
                    return Err(format!("is outside the range of {}", self.name()));
                }
                Ok(value.clone())
            }
            _ => {
                let (min, max) = self.integer_range().expect("an integer type");
                let integer = match value {
                    Value::Number(number) => {
                        if let Some(integer) = number.as_i64() {
                            Some(integer as i128)
                        } else if let Some(integer) = number.as_u64() {
                            Some(integer as i128)
                        } else {
                            let float = number.as_f64().unwrap_or(f64::NAN);
                            // An integral float within i128 converts exactly; the range check
                            // below decides whether it fits.
                            (float.fract() == 0.0 && float.abs() < 1e38).then_some(float as i128)
                        }
                    }
                    _ => None,
                };
                let Some(integer) = integer else {
                    return Err(format!("is not an integer, as {} needs", self.name()));
                };
                if integer < min || integer > max {
                    return Err(format!("does not fit {} ({min} to {max})", self.name()));
                }
                Ok(if integer < 0 {
                    Value::from(integer as i64)
                } else {
                    Value::from(integer as u64)
                })
            }
        }
    }
}

impl fmt::Display for Datatype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn type_list() -> String {
    ALL.iter()
        .map(|datatype| datatype.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A request tensor whose data was checked against its shape and datatype.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tensor {
    pub name: String,
    pub shape: Vec<u64>,
    pub datatype: Datatype,
    /// Row-major and flat.
    pub data: Vec<Value>,
    pub parameters: Option<Value>,
}

impl Tensor {
    /// Checks a tensor's data against its shape and datatype; `label` names the input in
    /// errors.
    fn new(
        label: &str,
        name: String,
        shape: Vec<u64>,
        datatype: Datatype,
        data: &Value,
        parameters: Option<Value>,
    ) -> Result<Tensor, Error> {
        let fail = |message: String| Error::InvalidInput(format!("{label}: {message}"));
        let expected = shape
            .iter()
            .try_fold(1u64, |count, dimension| count.checked_mul(*dimension))
            .ok_or_else(|| fail(format!("the shape {} is too large", dims(&shape))))?;
        let Value::Array(items) = data else {
            return Err(fail("`data` must be an array".into()));
        };
        let flat = flatten(items, &shape).map_err(fail)?;
        if flat.len() as u64 != expected {
            return Err(fail(format!(
                "the shape {} holds {expected} values, but `data` has {}",
                dims(&shape),
                flat.len()
            )));
        }
        let data = flat
            .into_iter()
            .enumerate()
            .map(|(index, value)| {
                datatype.check(value).map_err(|reason| {
                    fail(format!(
                        "the value {} at index {index} {reason}",
                        short(value)
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Tensor {
            name,
            shape,
            datatype,
            data,
            parameters,
        })
    }

    /// The tensor as the request's JSON.
    pub fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        object.insert("name".into(), self.name.clone().into());
        object.insert("shape".into(), self.shape.clone().into());
        object.insert("datatype".into(), self.datatype.name().into());
        if let Some(parameters) = &self.parameters {
            object.insert("parameters".into(), parameters.clone());
        }
        object.insert("data".into(), Value::Array(self.data.clone()));
        Value::Object(object)
    }
}

/// Formats a shape as `[2, 4]`.
fn dims<T: fmt::Display>(shape: &[T]) -> String {
    let parts: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// A value shown in an error, cut short.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// Flattens row-major data. Flat data passes as it is; nested data must nest exactly as the
/// shape describes.
fn flatten<'a>(items: &'a [Value], shape: &[u64]) -> Result<Vec<&'a Value>, String> {
    if !items.iter().any(Value::is_array) {
        return Ok(items.iter().collect());
    }
    let mut nesting = Vec::new();
    let mut level: &[Value] = items;
    loop {
        nesting.push(level.len() as u64);
        match level.first() {
            Some(Value::Array(inner)) => level = inner,
            _ => break,
        }
    }
    if nesting != shape {
        return Err(format!(
            "`data` is nested as {}, which does not match the shape {}",
            dims(&nesting),
            dims(shape)
        ));
    }
    let mut flat = Vec::new();
    collect(items, &nesting, &mut flat)?;
    Ok(flat)
}

fn collect<'a>(
    items: &'a [Value],
    nesting: &[u64],
    flat: &mut Vec<&'a Value>,
) -> Result<(), String> {
    if items.len() as u64 != nesting[0] {
        return Err(format!(
            "`data` has rows of different lengths ({} and {})",
            nesting[0],
            items.len()
        ));
    }
    for item in items {
        match (item, nesting.len()) {
            (Value::Array(inner), depth) if depth > 1 => collect(inner, &nesting[1..], flat)?,
            (Value::Array(_), _) => {
                return Err("`data` is nested deeper than the shape".into());
            }
            (_, 1) => flat.push(item),
            _ => return Err("`data` mixes values and arrays at one level".into()),
        }
    }
    Ok(())
}

/// Parses the `inputs` of a predict call: a list of `{name, shape, datatype, data,
/// parameters?}`.
pub(crate) fn parse_inputs(value: &Value) -> Result<Vec<Tensor>, Error> {
    let Value::Array(items) = value else {
        return Err(Error::InvalidInput(
            "the field `inputs` must be a list of tensors".into(),
        ));
    };
    if items.is_empty() {
        return Err(Error::InvalidInput(
            "the field `inputs` must hold at least one tensor".into(),
        ));
    }
    let tensors = items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_tensor(index, item))
        .collect::<Result<Vec<_>, _>>()?;
    for (index, tensor) in tensors.iter().enumerate() {
        if tensors[..index]
            .iter()
            .any(|other| other.name == tensor.name)
        {
            return Err(Error::InvalidInput(format!(
                "input `{}` appears twice in `inputs`",
                tensor.name
            )));
        }
    }
    Ok(tensors)
}

fn parse_tensor(index: usize, item: &Value) -> Result<Tensor, Error> {
    let position = format!("`inputs[{index}]`");
    let Value::Object(object) = item else {
        return Err(Error::InvalidInput(format!(
            "{position} must be an object with `name`, `shape`, `datatype` and `data`"
        )));
    };
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => {
            return Err(Error::InvalidInput(format!(
                "{position} needs a `name`, a non-empty string"
            )))
        }
    };
    let label = format!("input `{name}`");
    let fail = |message: String| Error::InvalidInput(format!("{label}: {message}"));
    for key in object.keys() {
        if !matches!(
            key.as_str(),
            "name" | "shape" | "datatype" | "data" | "parameters"
        ) {
            return Err(fail(format!(
                "unknown field `{key}`; a tensor has `name`, `shape`, `datatype`, `data` and \
                 `parameters`"
            )));
        }
    }
    let shape = match object.get("shape") {
        Some(shape) => parse_shape(shape).map_err(fail)?,
        None => return Err(fail("`shape` is missing".into())),
    };
    let datatype = match object.get("datatype") {
        Some(Value::String(text)) => Datatype::parse(text)
            .ok_or_else(|| fail(format!("`datatype` `{text}` is not one of {}", type_list())))?,
        Some(_) => return Err(fail("`datatype` must be a string".into())),
        None => return Err(fail("`datatype` is missing".into())),
    };
    let parameters = match object.get("parameters") {
        None | Some(Value::Null) => None,
        Some(value @ Value::Object(_)) => Some(value.clone()),
        Some(_) => return Err(fail("`parameters` must be an object".into())),
    };
    let data = object
        .get("data")
        .ok_or_else(|| fail("`data` is missing".into()))?;
    Tensor::new(&label, name, shape, datatype, data, parameters)
}

fn parse_shape(value: &Value) -> Result<Vec<u64>, String> {
    let message = "`shape` must be a list of non-negative integers";
    let Value::Array(items) = value else {
        return Err(message.into());
    };
    items
        .iter()
        .map(|item| item.as_u64().ok_or_else(|| message.to_string()))
        .collect()
}

/// The `records` form of a predict call: rows (lists of values) or objects keyed by column,
/// sent as one two-dimensional tensor.
pub(crate) struct Records<'a> {
    pub records: &'a Value,
    pub columns: Option<Vec<String>>,
    pub name: Option<String>,
    pub datatype: Option<String>,
}

impl Records<'_> {
    /// Builds the tensor. Without `input_name` or `datatype`, the model's metadata supplies
    /// them when it lists one input; else the name is `input-0` and the datatype follows the
    /// values.
    pub fn to_tensor(&self, metadata: Option<&ModelMetadata>) -> Result<Tensor, Error> {
        let fail = |message: String| Error::InvalidInput(message);
        let Value::Array(records) = self.records else {
            return Err(fail(
                "the field `records` must be a list of rows or of objects".into(),
            ));
        };
        let Some(first) = records.first() else {
            return Err(fail(
                "the field `records` must hold at least one record".into(),
            ));
        };
        let rows: Vec<Vec<&Value>> = match first {
            Value::Array(_) => {
                if self.columns.is_some() {
                    return Err(fail(
                        "`columns` applies only to records that are objects".into(),
                    ));
                }
                records
                    .iter()
                    .enumerate()
                    .map(|(index, record)| match record {
                        Value::Array(values) => Ok(values.iter().collect()),
                        _ => Err(fail(format!(
                            "record {index} is not a list, unlike record 0"
                        ))),
                    })
                    .collect::<Result<_, _>>()?
            }
            Value::Object(_) => {
                let columns = self.columns.as_ref().ok_or_else(|| {
                    fail(
                        "records that are objects need `columns`, the feature names in the \
                         order the model expects"
                            .into(),
                    )
                })?;
                if columns.is_empty() {
                    return Err(fail("`columns` must name at least one column".into()));
                }
                records
                    .iter()
                    .enumerate()
                    .map(|(index, record)| object_row(index, record, columns))
                    .collect::<Result<_, _>>()?
            }
            _ => {
                return Err(fail(
                    "each record must be a list of values or an object".into(),
                ))
            }
        };
        let width = rows[0].len();
        if width == 0 {
            return Err(fail("record 0 is empty".into()));
        }
        for (index, row) in rows.iter().enumerate() {
            if row.len() != width {
                return Err(fail(format!(
                    "record {index} has {} values, but record 0 has {width}",
                    row.len()
                )));
            }
            for (column, value) in row.iter().enumerate() {
                if value.is_array() || value.is_object() || value.is_null() {
                    return Err(fail(format!(
                        "record {index}, value {column} must be a number, string or boolean, \
                         not {}",
                        short(value)
                    )));
                }
            }
        }

        let only_input = metadata.and_then(|metadata| match metadata.inputs.as_slice() {
            [input] => Some(input),
            _ => None,
        });
        let name = self
            .name
            .clone()
            .or_else(|| only_input.map(|input| input.name.clone()))
            .unwrap_or_else(|| "input-0".to_string());
        let declared = metadata.and_then(|metadata| metadata.input(&name));
        let datatype = match (&self.datatype, declared.and_then(|input| input.datatype)) {
            (Some(text), _) => Datatype::parse(text).ok_or_else(|| {
                fail(format!(
                    "the field `datatype` `{text}` is not one of {}",
                    type_list()
                ))
            })?,
            (None, Some(datatype)) => datatype,
            (None, None) => infer_datatype(&rows)?,
        };
        let data = Value::Array(
            rows.iter()
                .flatten()
                .map(|value| (*value).clone())
                .collect(),
        );
        let shape = vec![rows.len() as u64, width as u64];
        Tensor::new(
            &format!("input `{name}` (from `records`)"),
            name,
            shape,
            datatype,
            &data,
            None,
        )
    }
}

fn object_row<'a>(
    index: usize,
    record: &'a Value,
    columns: &[String],
) -> Result<Vec<&'a Value>, Error> {
    let Value::Object(object) = record else {
        return Err(Error::InvalidInput(format!(
            "record {index} is not an object, unlike record 0"
        )));
    };
    if let Some(extra) = object.keys().find(|key| !columns.contains(key)) {
        return Err(Error::InvalidInput(format!(
            "record {index} has `{extra}`, which is not in `columns`"
        )));
    }
    columns
        .iter()
        .map(|column| {
            object
                .get(column)
                .ok_or_else(|| Error::InvalidInput(format!("record {index} has no `{column}`")))
        })
        .collect()
}

fn infer_datatype(rows: &[Vec<&Value>]) -> Result<Datatype, Error> {
    let values = || rows.iter().flatten();
    if values().all(|value| value.is_boolean()) {
        return Ok(Datatype::Bool);
    }
    if values().all(|value| value.is_string()) {
        return Ok(Datatype::Bytes);
    }
    if values().all(|value| value.is_i64() || value.is_u64()) {
        return Ok(Datatype::Int64);
    }
    if values().all(|value| value.is_number()) {
        return Ok(Datatype::Fp64);
    }
    Err(Error::InvalidInput(
        "the records mix numbers, strings and booleans; set `datatype` or make them alike".into(),
    ))
}

/// One tensor of a model's metadata; a `-1` dimension takes any size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorSpec {
    pub name: String,
    /// `None` when the metadata names a datatype outside the protocol's list.
    pub datatype: Option<Datatype>,
    pub shape: Option<Vec<i64>>,
}

/// Inputs that a model's metadata declares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelMetadata {
    pub inputs: Vec<TensorSpec>,
}

impl ModelMetadata {
    /// Reads the `inputs` of a metadata response, skipping entries it cannot read.
    pub fn from_json(value: &Value) -> ModelMetadata {
        let inputs = value
            .get("inputs")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| {
                        let name = item.get("name")?.as_str()?.to_string();
                        let datatype = item
                            .get("datatype")
                            .and_then(Value::as_str)
                            .and_then(Datatype::parse);
                        let shape = item
                            .get("shape")
                            .and_then(Value::as_array)
                            .and_then(|dims| {
                                dims.iter().map(Value::as_i64).collect::<Option<Vec<_>>>()
                            });
                        Some(TensorSpec {
                            name,
                            datatype,
                            shape,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        ModelMetadata { inputs }
    }

    fn input(&self, name: &str) -> Option<&TensorSpec> {
        self.inputs.iter().find(|input| input.name == name)
    }

    /// Checks tensors against the declared inputs: each name must be declared, with the same
    /// datatype and a shape that fits. Metadata without inputs checks nothing.
    pub fn check(&self, model: &str, tensors: &[Tensor]) -> Result<(), Error> {
        if self.inputs.is_empty() {
            return Ok(());
        }
        for tensor in tensors {
            let Some(spec) = self.input(&tensor.name) else {
                let names: Vec<String> = self
                    .inputs
                    .iter()
                    .map(|input| format!("`{}`", input.name))
                    .collect();
                return Err(Error::InvalidInput(format!(
                    "input `{}` is not an input of model `{model}`, whose inputs are {}",
                    tensor.name,
                    names.join(", ")
                )));
            };
            if let Some(datatype) = spec.datatype {
                if datatype != tensor.datatype {
                    return Err(Error::InvalidInput(format!(
                        "input `{}` has datatype {}, but model `{model}` expects {datatype}",
                        tensor.name, tensor.datatype
                    )));
                }
            }
            if let Some(shape) = spec.shape.as_ref().filter(|shape| !shape.is_empty()) {
                let fits = shape.len() == tensor.shape.len()
                    && shape
                        .iter()
                        .zip(&tensor.shape)
                        .all(|(want, got)| *want < 0 || *want as u64 == *got);
                if !fits {
                    return Err(Error::InvalidInput(format!(
                        "input `{}` has shape {}, but model `{model}` expects {} (-1 is any \
                         size)",
                        tensor.name,
                        dims(&tensor.shape),
                        dims(shape)
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::json;

    use super::*;

    fn one(value: Value) -> Result<Tensor, Error> {
        parse_inputs(&json!([value])).map(|mut tensors| tensors.remove(0))
    }

    fn message(error: Error) -> String {
        match error {
            Error::InvalidInput(message) => message,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn flat_and_nested_data_accepted() {
        let flat = one(json!({"name": "x", "shape": [2, 2], "datatype": "FP32",
                              "data": [1, 2.5, 3, 4]}))
        .unwrap();
        let nested = one(json!({"name": "x", "shape": [2, 2], "datatype": "FP32",
                                "data": [[1, 2.5], [3, 4]]}))
        .unwrap();

        assert_eq!(flat, nested);
        assert_eq!(flat.to_json()["data"], json!([1, 2.5, 3, 4]));
    }

    #[test]
    fn element_count_must_match_shape() {
        let error = one(
            json!({"name": "predict", "shape": [2, 4], "datatype": "FP64",
                               "data": [5.1, 3.5]}),
        )
        .unwrap_err();

        assert_eq!(
            message(error),
            "input `predict`: the shape [2, 4] holds 8 values, but `data` has 2"
        );
    }

    #[test]
    fn nesting_must_match_shape() {
        let error = one(json!({"name": "x", "shape": [3, 2], "datatype": "INT32",
                               "data": [[1, 2, 3], [4, 5, 6]]}))
        .unwrap_err();

        assert_eq!(
            message(error),
            "input `x`: `data` is nested as [2, 3], which does not match the shape [3, 2]"
        );
    }

    #[test]
    fn ragged_rows_rejected() {
        let error = one(json!({"name": "x", "shape": [2, 2], "datatype": "INT32",
                               "data": [[1, 2], [3]]}))
        .unwrap_err();

        assert!(message(error).contains("rows of different lengths"));
    }

    #[test]
    fn integer_ranges_checked() {
        let cases = [
            ("UINT8", json!(256), "does not fit UINT8 (0 to 255)"),
            ("UINT8", json!(-1), "does not fit UINT8"),
            ("INT8", json!(-129), "does not fit INT8 (-128 to 127)"),
            ("INT16", json!(40000), "does not fit INT16"),
            ("UINT32", json!(4294967296u64), "does not fit UINT32"),
            ("INT32", json!(1.5), "is not an integer, as INT32 needs"),
            ("INT64", json!("7"), "is not an integer"),
        ];
        for (datatype, value, expected) in cases {
            let error = one(json!({"name": "x", "shape": [1], "datatype": datatype,
                                   "data": [value]}))
            .unwrap_err();

            let text = message(error);
            assert!(text.contains(expected), "{datatype}: {text}");
            assert!(text.starts_with("input `x`: the value"), "{text}");
        }
    }

    #[test]
    fn limits_of_types_accepted() {
        let tensor = one(json!({"name": "x", "shape": [3], "datatype": "UINT64",
                                "data": [0, 18446744073709551615u64, 2.0]}))
        .unwrap();

        assert_eq!(
            tensor.data,
            vec![json!(0), json!(18446744073709551615u64), json!(2)]
        );
        assert!(one(json!({"name": "x", "shape": [2], "datatype": "INT64",
                           "data": [-9223372036854775808i64, 9223372036854775807i64]}))
        .is_ok());
    }

    #[test]
    fn float_ranges_checked() {
        let fp16 = one(json!({"name": "h", "shape": [1], "datatype": "FP16", "data": [70000]}))
            .unwrap_err();
        let fp32 = one(json!({"name": "f", "shape": [1], "datatype": "FP32", "data": [1e39]}))
            .unwrap_err();
        let ok = one(json!({"name": "d", "shape": [2], "datatype": "FP64",
                            "data": [1e39, -65504]}));

        assert!(message(fp16).contains("outside the range of FP16"));
        assert!(message(fp32).contains("outside the range of FP32"));
        assert!(ok.is_ok());
    }

    #[test]
    fn bool_and_bytes_checked() {
        let bool_error = one(json!({"name": "b", "shape": [2], "datatype": "BOOL",
                                    "data": [true, 1]}))
        .unwrap_err();
        let bytes_error = one(json!({"name": "s", "shape": [1], "datatype": "BYTES",
                                     "data": [5]}))
        .unwrap_err();

        assert_eq!(
            message(bool_error),
            "input `b`: the value 1 at index 1 is not a boolean, as BOOL needs"
        );
        assert!(message(bytes_error).contains("is not a string, as BYTES needs"));
    }

    #[test]
    fn unknown_datatype_lists_types() {
        let error = one(json!({"name": "x", "shape": [1], "datatype": "FLOAT",
                               "data": [1]}))
        .unwrap_err();

        let text = message(error);
        assert!(text.starts_with("input `x`: `datatype` `FLOAT` is not one of BOOL, UINT8"));
        assert!(text.ends_with("FP64, BYTES"));
    }

    #[test]
    fn missing_fields_named() {
        let no_name = one(json!({"shape": [1], "datatype": "FP32", "data": [1]})).unwrap_err();
        let no_shape = one(json!({"name": "x", "datatype": "FP32", "data": [1]})).unwrap_err();
        let negative = one(json!({"name": "x", "shape": [-1], "datatype": "FP32",
                                  "data": [1]}))
        .unwrap_err();
        let typo =
            one(json!({"name": "x", "shape": [1], "dtype": "FP32", "data": [1]})).unwrap_err();

        assert!(message(no_name).contains("`inputs[0]` needs a `name`"));
        assert_eq!(message(no_shape), "input `x`: `shape` is missing");
        assert!(message(negative).contains("non-negative integers"));
        assert!(message(typo).contains("unknown field `dtype`"));
    }

    #[test]
    fn scalar_shape_holds_one_value() {
        let tensor = one(json!({"name": "x", "shape": [], "datatype": "FP32", "data": [1]}));

        assert!(tensor.is_ok());
    }

    #[test]
    fn duplicate_names_rejected() {
        let error = parse_inputs(&json!([
            {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]},
            {"name": "x", "shape": [1], "datatype": "FP32", "data": [2]}
        ]))
        .unwrap_err();

        assert_eq!(message(error), "input `x` appears twice in `inputs`");
    }

    fn iris_metadata() -> ModelMetadata {
        ModelMetadata::from_json(&json!({
            "name": "iris", "versions": [], "platform": "",
            "inputs": [{"name": "predict", "datatype": "FP64", "shape": [-1, 4]}],
            "outputs": [{"name": "predict", "datatype": "INT64", "shape": [-1, 1]}]
        }))
    }

    #[test]
    fn row_records_become_a_tensor() {
        let records = json!([[5.1, 3.5, 1.4, 0.2], [6.7, 3, 5.2, 2.3]]);
        let tensor = Records {
            records: &records,
            columns: None,
            name: None,
            datatype: None,
        }
        .to_tensor(Some(&iris_metadata()))
        .unwrap();

        assert_eq!(
            tensor.to_json(),
            json!({"name": "predict", "shape": [2, 4], "datatype": "FP64",
                   "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3, 5.2, 2.3]})
        );
    }

    #[test]
    fn object_records_follow_columns() {
        let records = json!([{"b": 2, "a": 1}, {"a": 3, "b": 4}]);
        let tensor = Records {
            records: &records,
            columns: Some(vec!["b".into(), "a".into()]),
            name: Some("features".into()),
            datatype: None,
        }
        .to_tensor(None)
        .unwrap();

        assert_eq!(tensor.name, "features");
        assert_eq!(tensor.shape, vec![2, 2]);
        assert_eq!(tensor.datatype, Datatype::Int64);
        assert_eq!(tensor.data, vec![json!(2), json!(1), json!(4), json!(3)]);
    }

    #[test]
    fn object_records_need_columns_and_all_keys() {
        let records = json!([{"a": 1, "b": 2}, {"a": 3}]);
        let spec = |columns: Option<Vec<String>>| Records {
            records: &records,
            columns,
            name: None,
            datatype: None,
        };

        let no_columns = spec(None).to_tensor(None).unwrap_err();
        let missing = spec(Some(vec!["a".into(), "b".into()]))
            .to_tensor(None)
            .unwrap_err();
        let extra = spec(Some(vec!["a".into()])).to_tensor(None).unwrap_err();

        assert!(message(no_columns).contains("need `columns`"));
        assert_eq!(message(missing), "record 1 has no `b`");
        assert_eq!(
            message(extra),
            "record 0 has `b`, which is not in `columns`"
        );
    }

    #[test]
    fn records_values_checked_against_datatype() {
        let records = json!([[1, 2], [3, 300]]);
        let error = Records {
            records: &records,
            columns: None,
            name: Some("x".into()),
            datatype: Some("UINT8".into()),
        }
        .to_tensor(None)
        .unwrap_err();

        assert_eq!(
            message(error),
            "input `x` (from `records`): the value 300 at index 3 does not fit UINT8 (0 to 255)"
        );
    }

    #[test]
    fn ragged_records_rejected() {
        let records = json!([[1, 2], [3]]);
        let error = Records {
            records: &records,
            columns: None,
            name: None,
            datatype: None,
        }
        .to_tensor(None)
        .unwrap_err();

        assert_eq!(message(error), "record 1 has 1 values, but record 0 has 2");
    }

    #[test]
    fn metadata_checks_name_datatype_and_shape() {
        let metadata = iris_metadata();
        let tensor = |name: &str, datatype: &str, shape: Value, data: Value| {
            one(json!({"name": name, "shape": shape, "datatype": datatype, "data": data})).unwrap()
        };

        let ok = metadata.check(
            "iris",
            &[tensor(
                "predict",
                "FP64",
                json!([2, 4]),
                Value::from(vec![0.0; 8]),
            )],
        );
        let name = metadata.check(
            "iris",
            &[tensor(
                "x",
                "FP64",
                json!([1, 4]),
                Value::from(vec![0.0; 4]),
            )],
        );
        let datatype = metadata.check(
            "iris",
            &[tensor(
                "predict",
                "FP32",
                json!([1, 4]),
                Value::from(vec![0.0; 4]),
            )],
        );
        let shape = metadata.check(
            "iris",
            &[tensor(
                "predict",
                "FP64",
                json!([1, 3]),
                Value::from(vec![0.0; 3]),
            )],
        );

        assert!(ok.is_ok());
        assert_eq!(
            message(name.unwrap_err()),
            "input `x` is not an input of model `iris`, whose inputs are `predict`"
        );
        assert_eq!(
            message(datatype.unwrap_err()),
            "input `predict` has datatype FP32, but model `iris` expects FP64"
        );
        assert_eq!(
            message(shape.unwrap_err()),
            "input `predict` has shape [1, 3], but model `iris` expects [-1, 4] (-1 is any size)"
        );
    }

    #[test]
    fn metadata_without_inputs_checks_nothing() {
        let metadata = ModelMetadata::from_json(&json!({"name": "m", "inputs": []}));
        let tensor = one(json!({"name": "x", "shape": [1], "datatype": "BYTES",
                                "data": ["a"]}))
        .unwrap();

        assert!(metadata.check("m", &[tensor]).is_ok());
    }
}
