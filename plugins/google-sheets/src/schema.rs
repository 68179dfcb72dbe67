//! JSON Schemas of the config and of each operation's input.

use trellis_connector_sdk::{json, Value};

use crate::config::{
    DEFAULT_BASE_URL, DEFAULT_MAX_ATTEMPTS, DEFAULT_TOKEN_URL, MAX_ATTEMPTS_LIMIT,
};
use crate::operations::{
    DATE_TIME_RENDER_OPTIONS, INSERT_DATA_OPTIONS, VALUE_INPUT_OPTIONS, VALUE_RENDER_OPTIONS,
};

pub(crate) fn config() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "base_url": {
                "type": "string", "format": "uri", "default": DEFAULT_BASE_URL,
                "description": "Sheets API root, with or without a trailing /v4"
            },
            "token_url": {
                "type": "string", "format": "uri", "default": DEFAULT_TOKEN_URL,
                "description": "OAuth 2.0 token endpoint"
            },
            "service_account_key": {
                "type": ["string", "object"],
                "description": "A service account's whole JSON key file; share each \
                                spreadsheet with its client_email"
            },
            "subject": {
                "type": "string",
                "description": "User to act as, through domain-wide delegation of the service \
                                account"
            },
            "client_id": { "type": "string", "description": "OAuth client id" },
            "client_secret": { "type": "string", "description": "OAuth client secret" },
            "refresh_token": {
                "type": "string",
                "description": "Refresh token of a user who granted the spreadsheets scope"
            },
            "access_token": {
                "type": "string",
                "description": "Access token used until it expires; optional beside \
                                refresh_token"
            },
            "spreadsheet_id": {
                "type": "string",
                "description": "Spreadsheet used when an operation names none; an id or the \
                                spreadsheet's URL"
            },
            "max_attempts": {
                "type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS_LIMIT,
                "default": DEFAULT_MAX_ATTEMPTS,
                "description": "Attempts per request when Google returns 429, or 5xx to a read \
                                or an update; appends and batch updates are not sent again \
                                after a 5xx"
            }
        }
    })
}

fn spreadsheet_id() -> Value {
    json!({
        "type": "string",
        "description": "Spreadsheet id or URL; defaults to the resource's spreadsheet_id"
    })
}

fn range(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "description": description })
}

fn values() -> Value {
    json!({
        "type": "array",
        "items": {
            "type": "array",
            "items": { "type": ["string", "number", "boolean", "null"] }
        }
    })
}

fn value_input_option() -> Value {
    json!({
        "enum": VALUE_INPUT_OPTIONS, "default": "RAW",
        "description": "RAW stores text as it is; USER_ENTERED parses it as if typed, so \
                        numbers, dates and formulas take effect"
    })
}

pub(crate) fn read_range() -> Value {
    json!({
        "type": "object",
        "required": ["range"],
        "additionalProperties": false,
        "properties": {
            "spreadsheet_id": spreadsheet_id(),
            "range": range("A1 notation, such as Sheet1!A1:D100, 'My sheet'!A:D or Sheet1"),
            "header": {
                "type": "boolean", "default": true,
                "description": "Return the rows as objects keyed by the range's first row; \
                                false returns arrays"
            },
            "value_render_option": { "enum": VALUE_RENDER_OPTIONS, "default": "FORMATTED_VALUE" },
            "date_time_render_option": { "enum": DATE_TIME_RENDER_OPTIONS }
        }
    })
}

pub(crate) fn append_rows() -> Value {
    json!({
        "type": "object",
        "required": ["range", "rows"],
        "additionalProperties": false,
        "properties": {
            "spreadsheet_id": spreadsheet_id(),
            "range": range("The table to append to, such as Sheet1 or Sheet1!A:D; its first \
                            row is the header row"),
            "rows": {
                "type": "array", "minItems": 1,
                "items": {
                    "oneOf": [
                        { "type": "object", "description": "Cells keyed by header name" },
                        {
                            "type": "array",
                            "items": { "type": ["string", "number", "boolean", "null"] }
                        }
                    ]
                }
            },
            "value_input_option": value_input_option(),
            "insert_data_option": {
                "enum": INSERT_DATA_OPTIONS, "default": "INSERT_ROWS",
                "description": "INSERT_ROWS inserts new rows; OVERWRITE writes over the rows \
                                after the table"
            }
        }
    })
}

pub(crate) fn update_range() -> Value {
    json!({
        "type": "object",
        "required": ["range", "values"],
        "additionalProperties": false,
        "properties": {
            "spreadsheet_id": spreadsheet_id(),
            "range": range("A1 notation of the cells to write, such as Sheet1!B2:C3"),
            "values": values(),
            "value_input_option": value_input_option()
        }
    })
}

pub(crate) fn clear_range() -> Value {
    json!({
        "type": "object",
        "required": ["range"],
        "additionalProperties": false,
        "properties": {
            "spreadsheet_id": spreadsheet_id(),
            "range": range("A1 notation of the cells to clear")
        }
    })
}

pub(crate) fn list_sheets() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": { "spreadsheet_id": spreadsheet_id() }
    })
}

pub(crate) fn create_sheet() -> Value {
    json!({
        "type": "object",
        "required": ["title"],
        "additionalProperties": false,
        "properties": {
            "spreadsheet_id": spreadsheet_id(),
            "title": { "type": "string", "minLength": 1 },
            "index": {
                "type": "integer", "minimum": 0, "description": "Position among the sheets"
            },
            "row_count": { "type": "integer", "minimum": 1 },
            "column_count": { "type": "integer", "minimum": 1 },
            "headers": {
                "type": "array", "items": { "type": "string" },
                "description": "Column names written to the new sheet's first row"
            }
        }
    })
}

pub(crate) fn batch_update() -> Value {
    json!({
        "type": "object",
        "required": ["data"],
        "additionalProperties": false,
        "properties": {
            "spreadsheet_id": spreadsheet_id(),
            "data": {
                "type": "array", "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["range", "values"],
                    "additionalProperties": false,
                    "properties": { "range": range("A1 notation"), "values": values() }
                }
            },
            "value_input_option": value_input_option()
        }
    })
}
