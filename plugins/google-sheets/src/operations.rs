//! The operations: read, append, update and clear values, list and add sheets, and write
//! several ranges in one request.

use trellis_connector_sdk::{json, Error, Json, Value};

use crate::a1::{self, encode};
use crate::api::Client;
use crate::config::Config;
use crate::table;

pub(crate) const VALUE_RENDER_OPTIONS: &[&str] =
    &["FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"];
pub(crate) const DATE_TIME_RENDER_OPTIONS: &[&str] = &["SERIAL_NUMBER", "FORMATTED_STRING"];
pub(crate) const VALUE_INPUT_OPTIONS: &[&str] = &["RAW", "USER_ENTERED"];
pub(crate) const INSERT_DATA_OPTIONS: &[&str] = &["INSERT_ROWS", "OVERWRITE"];

/// Returns the rows of a range, as objects keyed by the first row or as arrays.
pub(crate) fn read_range(config: &Config, input: &Json) -> Result<Value, Error> {
    let id = spreadsheet_id(config, input)?;
    let range = range_field(input, "range")?;
    let header = input.optional::<bool>("header")?.unwrap_or(true);
    let render = choice(input, "value_render_option", VALUE_RENDER_OPTIONS)?;
    let render = render.unwrap_or("FORMATTED_VALUE");
    let mut query = format!("?majorDimension=ROWS&valueRenderOption={render}");
    if let Some(option) = choice(input, "date_time_render_option", DATE_TIME_RENDER_OPTIONS)? {
        query.push_str(&format!("&dateTimeRenderOption={option}"));
    }

    let client = Client::new(config);
    let path = format!("/{}/values/{}{query}", encode(&id), encode(&range));
    let response = client.send("GET", &path, None)?;

    let read_range = response["range"].as_str().unwrap_or(&range).to_string();
    let values = response["values"].as_array().cloned().unwrap_or_default();
    if !header {
        return Ok(json!({ "spreadsheet_id": id, "range": read_range, "rows": values }));
    }
    let Some((first, rows)) = values.split_first() else {
        return Ok(json!({ "spreadsheet_id": id, "range": read_range, "headers": [], "rows": [] }));
    };
    let first = first.as_array().map(Vec::as_slice).unwrap_or_default();
    let width = rows
        .iter()
        .filter_map(Value::as_array)
        .map(Vec::len)
        .max()
        .unwrap_or(0);
    let first_column = start_column(&read_range);
    let names = table::column_names(first, width, first_column, &read_range)?;
    let objects = table::to_objects(&names, rows);
    Ok(json!({ "spreadsheet_id": id, "range": read_range, "headers": names, "rows": objects }))
}

/// Appends rows after the table in a range. Object rows are placed by the header row.
pub(crate) fn append_rows(config: &Config, input: &Json) -> Result<Value, Error> {
    let id = spreadsheet_id(config, input)?;
    let range_text = range_field(input, "range")?;
    let range = a1::parse(&range_text).map_err(|message| invalid_range("range", &message))?;
    let rows: Vec<Value> = input.field("rows")?;
    if rows.is_empty() {
        return Err(Error::InvalidInput(
            "the field `rows` must hold at least one row".into(),
        ));
    }
    let input_option = choice(input, "value_input_option", VALUE_INPUT_OPTIONS)?.unwrap_or("RAW");
    let insert_option =
        choice(input, "insert_data_option", INSERT_DATA_OPTIONS)?.unwrap_or("INSERT_ROWS");

    let client = Client::new(config);
    let (header_range, first, last) = range.header_row();
    let header = if rows.iter().any(Value::is_object) {
        let path = format!(
            "/{}/values/{}?majorDimension=ROWS&valueRenderOption=FORMATTED_VALUE",
            encode(&id),
            encode(&header_range)
        );
        let response = client.send("GET", &path, None)?;
        let row = response["values"][0]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let names = table::header_names(&row, first, last);
        if names.iter().all(String::is_empty) {
            return Err(Error::InvalidInput(format!(
                "the header row {header_range} is empty, so object rows cannot be placed; write \
                 the column names in that row first, or send the rows as arrays"
            )));
        }
        Some(names)
    } else {
        None
    };
    let values = table::to_rows(&rows, header.as_deref(), &header_range)?;

    let path = format!(
        "/{}/values/{}:append?valueInputOption={input_option}&insertDataOption={insert_option}",
        encode(&id),
        encode(&range_text)
    );
    let body = json!({ "range": range_text, "majorDimension": "ROWS", "values": values });
    let response = client.send("POST", &path, Some(&body))?;
    let mut output = updated(&response["updates"]);
    output["spreadsheet_id"] = id.into();
    output["table_range"] = response.get("tableRange").cloned().unwrap_or(Value::Null);
    Ok(output)
}

/// Writes values into a range, row by row.
pub(crate) fn update_range(config: &Config, input: &Json) -> Result<Value, Error> {
    let id = spreadsheet_id(config, input)?;
    let range = range_field(input, "range")?;
    let values = values_field(input.field("values")?, "values")?;
    let input_option = choice(input, "value_input_option", VALUE_INPUT_OPTIONS)?.unwrap_or("RAW");

    let path = format!(
        "/{}/values/{}?valueInputOption={input_option}",
        encode(&id),
        encode(&range)
    );
    let body = json!({ "range": range, "majorDimension": "ROWS", "values": values });
    let response = Client::new(config).send("PUT", &path, Some(&body))?;
    let mut output = updated(&response);
    output["spreadsheet_id"] = id.into();
    Ok(output)
}

/// Clears the values of a range, keeping its formatting.
pub(crate) fn clear_range(config: &Config, input: &Json) -> Result<Value, Error> {
    let id = spreadsheet_id(config, input)?;
    let range = range_field(input, "range")?;

    let path = format!("/{}/values/{}:clear", encode(&id), encode(&range));
    let response = Client::new(config).send("POST", &path, Some(&json!({})))?;
    Ok(json!({
        "spreadsheet_id": id,
        "cleared_range": response.get("clearedRange").cloned().unwrap_or(Value::Null),
    }))
}

/// Lists the sheets of a spreadsheet with their ids and sizes.
pub(crate) fn list_sheets(config: &Config, input: &Json) -> Result<Value, Error> {
    let id = spreadsheet_id(config, input)?;

    let fields = encode("spreadsheetId,properties.title,sheets.properties");
    let path = format!("/{}?fields={fields}", encode(&id));
    let response = Client::new(config).send("GET", &path, None)?;
    let sheets: Vec<Value> = response["sheets"]
        .as_array()
        .map(|sheets| {
            sheets
                .iter()
                .map(|sheet| sheet_output(&sheet["properties"]))
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({
        "spreadsheet_id": id,
        "title": response["properties"]["title"].clone(),
        "sheets": sheets,
    }))
}

/// Adds a sheet, and writes its header row when the input gives one.
pub(crate) fn create_sheet(config: &Config, input: &Json) -> Result<Value, Error> {
    let id = spreadsheet_id(config, input)?;
    let title: String = input.field("title")?;
    if title.trim().is_empty() || title.chars().any(char::is_control) {
        return Err(Error::InvalidInput(
            "the field `title` must be a non-empty name without control characters".into(),
        ));
    }
    let mut properties = json!({ "title": title });
    if let Some(index) = input.optional::<u32>("index")? {
        properties["index"] = index.into();
    }
    let rows = input.optional::<u32>("row_count")?;
    let columns = input.optional::<u32>("column_count")?;
    if rows == Some(0) || columns == Some(0) {
        return Err(Error::InvalidInput(
            "the fields `row_count` and `column_count` must be at least 1".into(),
        ));
    }
    if rows.is_some() || columns.is_some() {
        let mut grid = json!({});
        if let Some(rows) = rows {
            grid["rowCount"] = rows.into();
        }
        if let Some(columns) = columns {
            grid["columnCount"] = columns.into();
        }
        properties["gridProperties"] = grid;
    }
    let headers: Option<Vec<String>> = input.optional("headers")?;

    let client = Client::new(config);
    let body = json!({ "requests": [{ "addSheet": { "properties": properties } }] });
    let response = client.send(
        "POST",
        &format!("/{}:batchUpdate", encode(&id)),
        Some(&body),
    )?;
    let mut output = sheet_output(&response["replies"][0]["addSheet"]["properties"]);
    output["spreadsheet_id"] = id.clone().into();

    if let Some(headers) = headers.filter(|headers| !headers.is_empty()) {
        let range = format!("{}!A1", a1::quote_sheet(&title));
        let path = format!(
            "/{}/values/{}?valueInputOption=RAW",
            encode(&id),
            encode(&range)
        );
        let body = json!({ "range": range, "majorDimension": "ROWS", "values": [headers] });
        let response = client.send("PUT", &path, Some(&body))?;
        output["header_range"] = response["updatedRange"].clone();
    }
    Ok(output)
}

/// Writes several ranges in one request.
pub(crate) fn batch_update(config: &Config, input: &Json) -> Result<Value, Error> {
    let id = spreadsheet_id(config, input)?;
    let data: Vec<Value> = input.field("data")?;
    if data.is_empty() {
        return Err(Error::InvalidInput(
            "the field `data` must hold at least one range".into(),
        ));
    }
    let input_option = choice(input, "value_input_option", VALUE_INPUT_OPTIONS)?.unwrap_or("RAW");
    let mut ranges = Vec::with_capacity(data.len());
    for (index, entry) in data.into_iter().enumerate() {
        let field = format!("data[{index}]");
        let Some(range) = entry.get("range").and_then(Value::as_str) else {
            return Err(Error::InvalidInput(format!("`{field}.range` is missing")));
        };
        a1::parse(range).map_err(|message| invalid_range(&format!("{field}.range"), &message))?;
        let values = entry.get("values").cloned().unwrap_or(Value::Null);
        let values = values_field(values, &format!("{field}.values"))?;
        ranges.push(json!({ "range": range, "majorDimension": "ROWS", "values": values }));
    }

    let body = json!({ "valueInputOption": input_option, "data": ranges });
    let path = format!("/{}/values:batchUpdate", encode(&id));
    let response = Client::new(config).send("POST", &path, Some(&body))?;
    let responses: Vec<Value> = response["responses"]
        .as_array()
        .map(|items| items.iter().map(updated).collect())
        .unwrap_or_default();
    Ok(json!({
        "spreadsheet_id": id,
        "total_updated_rows": response.get("totalUpdatedRows").cloned().unwrap_or(0.into()),
        "total_updated_columns": response.get("totalUpdatedColumns").cloned().unwrap_or(0.into()),
        "total_updated_cells": response.get("totalUpdatedCells").cloned().unwrap_or(0.into()),
        "total_updated_sheets": response.get("totalUpdatedSheets").cloned().unwrap_or(0.into()),
        "responses": responses,
    }))
}

/// Returns the spreadsheet id of the input, or the config's when the input names none.
pub(crate) fn spreadsheet_id(config: &Config, input: &Json) -> Result<String, Error> {
    match input.optional::<String>("spreadsheet_id")? {
        Some(id) => a1::spreadsheet_id(&id).map_err(|message| {
            Error::InvalidInput(format!("the field `spreadsheet_id` is invalid: {message}"))
        }),
        None => config.spreadsheet_id.clone().ok_or_else(|| {
            Error::InvalidInput(
                "the field `spreadsheet_id` is missing, and the resource sets no default \
                 `spreadsheet_id`"
                    .into(),
            )
        }),
    }
}

fn range_field(input: &Json, field: &str) -> Result<String, Error> {
    let range: String = input.field(field)?;
    a1::parse(&range).map_err(|message| invalid_range(field, &message))?;
    Ok(range)
}

fn invalid_range(field: &str, message: &str) -> Error {
    Error::InvalidInput(format!("the field `{field}` is invalid: {message}"))
}

/// Returns the value of an enumerated field, checked against the values Google accepts.
fn choice(
    input: &Json,
    field: &str,
    allowed: &[&'static str],
) -> Result<Option<&'static str>, Error> {
    let Some(given) = input.optional::<String>(field)? else {
        return Ok(None);
    };
    allowed
        .iter()
        .find(|option| option.eq_ignore_ascii_case(&given))
        .map(|option| Some(*option))
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "the field `{field}` must be one of {}, not `{given}`",
                allowed.join(", ")
            ))
        })
}

/// Checks that values are rows of scalar cells.
fn values_field(values: Value, field: &str) -> Result<Value, Error> {
    let invalid = || {
        Error::InvalidInput(format!(
            "`{field}` must be a list of rows, each a list of strings, numbers, booleans or nulls"
        ))
    };
    let rows = values.as_array().ok_or_else(invalid)?;
    for row in rows {
        let cells = row.as_array().ok_or_else(invalid)?;
        if cells.iter().any(|cell| cell.is_array() || cell.is_object()) {
            return Err(invalid());
        }
    }
    Ok(values)
}

/// Returns the 1-based first column of a range such as `Sheet1!B1:D9`; 1 when it has none.
fn start_column(range: &str) -> u32 {
    a1::parse(range)
        .ok()
        .and_then(|range| range.cells)
        .and_then(|cells| cells.start.column)
        .unwrap_or(1)
}

/// Returns Google's `UpdateValuesResponse` with snake_case names.
fn updated(response: &Value) -> Value {
    json!({
        "updated_range": response.get("updatedRange").cloned().unwrap_or(Value::Null),
        "updated_rows": response.get("updatedRows").cloned().unwrap_or(0.into()),
        "updated_columns": response.get("updatedColumns").cloned().unwrap_or(0.into()),
        "updated_cells": response.get("updatedCells").cloned().unwrap_or(0.into()),
    })
}

fn sheet_output(properties: &Value) -> Value {
    json!({
        // Google leaves out fields that hold their default, such as a `sheetId` or `index` of 0.
        "sheet_id": properties.get("sheetId").cloned().unwrap_or(0.into()),
        "title": properties["title"].clone(),
        "index": properties.get("index").cloned().unwrap_or(0.into()),
        "sheet_type": properties.get("sheetType").cloned().unwrap_or("GRID".into()),
        "row_count": properties["gridProperties"]["rowCount"].clone(),
        "column_count": properties["gridProperties"]["columnCount"].clone(),
    })
}
