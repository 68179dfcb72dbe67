//! Built-in connector for Google Sheets: read, append, update and clear values, list and add
//! sheets, and write several ranges at once, authenticated as a service account or with a
//! user's refresh token.

mod a1;
mod api;
mod auth;
mod config;
mod operations;
mod schema;
mod table;

use trellis_connector_sdk::http::Request;
use trellis_connector_sdk::{export_connector, Connector, Error, Json, Manifest, Operation, Value};

use crate::config::Config;

struct GoogleSheets;

/// Connection steps, each named by the prefix of the host's or this connector's message.
const CONNECTION_STEPS: &[(&str, &str)] = &[
    ("DNS lookup failed", "DNS"),
    ("connecting failed", "connect"),
    ("TLS handshake failed", "TLS"),
    ("authentication failed", "authentication"),
];

/// Time allowed for each request of the connection test.
const CONNECTION_TEST_TIMEOUT_MS: u32 = 10_000;

impl Connector for GoogleSheets {
    fn manifest() -> Manifest {
        Manifest::new("google-sheets", "Google Sheets", env!("CARGO_PKG_VERSION"))
            .description(
                "Read and write Google Sheets: ranges as rows or objects keyed by the header \
                 row, appends, updates, clears and new sheets, as a service account or a user.",
            )
            .config_schema(schema::config())
            .base_url_field("base_url")
            .base_url_field("token_url")
            .secret_field("service_account_key")
            .secret_field("client_secret")
            .secret_field("refresh_token")
            .secret_field("access_token")
            .operation(
                Operation::new("read-range", schema::read_range())
                    .description("Reads a range as objects keyed by its first row, or as rows")
                    .read_only(),
            )
            .operation(
                Operation::new("append-rows", schema::append_rows()).description(
                    "Appends rows after a table; objects are placed by the header row",
                ),
            )
            .operation(
                Operation::new("update-range", schema::update_range())
                    .description("Writes rows of values into a range"),
            )
            .operation(
                Operation::new("clear-range", schema::clear_range())
                    .description("Clears the values of a range and keeps its formatting"),
            )
            .operation(
                Operation::new("list-sheets", schema::list_sheets())
                    .description("Lists the sheets of a spreadsheet with their ids and sizes")
                    .read_only(),
            )
            .operation(
                Operation::new("create-sheet", schema::create_sheet())
                    .description("Adds a sheet, with an optional header row"),
            )
            .operation(
                Operation::new("batch-update", schema::batch_update())
                    .description("Writes values into several ranges in one request"),
            )
    }

    fn test_connection(config: Json) -> Result<(), Error> {
        let config = Config::from_json(&config)?;
        let token = auth::new_token(&config).map_err(|error| {
            connection_failure(error, &format!("the token endpoint {}", config.token_url))
        })?;

        let (url, authorized) = match &config.spreadsheet_id {
            Some(id) => (
                config.spreadsheets_url(&format!("/{}?fields=spreadsheetId", a1::encode(id))),
                true,
            ),
            None => (config.discovery_url(), false),
        };
        let mut request = Request::get(&url)
            .header("accept", "application/json")
            .timeout_ms(CONNECTION_TEST_TIMEOUT_MS);
        if authorized {
            request = request.bearer(&token.value);
        }
        let response = request
            .send()
            .map_err(api::denied_hint)
            .map_err(|error| connection_failure(error, "the Sheets API"))?;
        let status = response.status();
        if status < 400 {
            return Ok(());
        }
        let step = if matches!(status, 401 | 403) {
            "authentication"
        } else {
            "request"
        };
        let message = api::error_message(&response);
        Err(Error::Upstream {
            status: Some(status),
            message: format!(
                "the connection test failed at the {step} step: GET {}: {message}",
                url.split('?').next().unwrap_or(&url)
            ),
        })
    }

    fn execute(config: Json, operation: &str, input: Json) -> Result<Value, Error> {
        let config = Config::from_json(&config)?;
        match operation {
            "read-range" => operations::read_range(&config, &input),
            "append-rows" => operations::append_rows(&config, &input),
            "update-range" => operations::update_range(&config, &input),
            "clear-range" => operations::clear_range(&config, &input),
            "list-sheets" => operations::list_sheets(&config, &input),
            "create-sheet" => operations::create_sheet(&config, &input),
            "batch-update" => operations::batch_update(&config, &input),
            other => Err(Error::unknown_operation(other)),
        }
    }
}

/// Names the step of a failed connection test in an upstream error's message.
fn connection_failure(error: Error, target: &str) -> Error {
    let Error::Upstream { status, message } = error else {
        return error;
    };
    let step = CONNECTION_STEPS
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map_or("request", |(_, step)| step);
    Error::Upstream {
        status,
        message: format!("the connection test failed at the {step} step ({target}): {message}"),
    }
}

export_connector!(GoogleSheets);
