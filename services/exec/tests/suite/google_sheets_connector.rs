//! The built-in Google Sheets connector against a loopback server that speaks Google's OAuth
//! 2.0 token protocol (JWT bearer grants checked against the test key's public key, and
//! refresh-token grants) and the Sheets v4 API, keeping the cells in memory so reads see
//! writes: every operation, the token cache, the error mapping and the connection test.
//!
//! The RSA keys in `tests/data/google-sheets` are test-only keys made with openssl; they
//! belong to no Google account.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use trellis_exec::host::network::InternalHost;
use trellis_exec::registry::BUILTIN_COMPONENTS;
use trellis_exec::RunError;

use crate::support::builtin::{invalid_input, upstream, BuiltinHarness};

/// The test service account's private key (PKCS #8), a test-only key.
const TEST_KEY: &str = include_str!("../data/google-sheets/service-account-key.pem");
/// Its public key, with which the token server checks signatures.
const TEST_PUBLIC_KEY: &str = include_str!("../data/google-sheets/service-account-public.pem");
/// A test-only private key that the token server does not know.
const UNKNOWN_KEY: &str = include_str!("../data/google-sheets/unknown-key.pem");

const CLIENT_EMAIL: &str = "trellis-tests@trellis-tests.iam.gserviceaccount.com";
const KEY_ID: &str = "5e1c2b0e9a7d4f3c8b6a1d2e3f4a5b6c7d8e9f0a";
const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";
const CLIENT_ID: &str = "1234567890-test.apps.googleusercontent.com";
const CLIENT_SECRET: &str = "GOCSPX-test-secret";
const REFRESH_TOKEN: &str = "1//0test-refresh-token";

/// The spreadsheet the server holds.
const SPREADSHEET: &str = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";
/// A spreadsheet that exists but is not shared with the caller.
const LOCKED: &str = "1LockedSheetNotSharedWithTheServiceAccount0";
/// A spreadsheet id the server does not know.
const MISSING: &str = "1NoSuchSpreadsheet000000000000000000000000";

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

// ---------------------------------------------------------------------------------------------
// The in-memory spreadsheet.

struct Sheet {
    sheet_id: i64,
    title: String,
    rows: Vec<Vec<Value>>,
    row_count: usize,
    column_count: usize,
}

impl Sheet {
    fn new(sheet_id: i64, title: &str) -> Self {
        Sheet {
            sheet_id,
            title: title.into(),
            rows: Vec::new(),
            row_count: 1000,
            column_count: 26,
        }
    }

    fn get(&self, row: usize, column: usize) -> Value {
        self.rows
            .get(row)
            .and_then(|cells| cells.get(column))
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn set(&mut self, row: usize, column: usize, value: Value) {
        if self.rows.len() <= row {
            self.rows.resize(row + 1, Vec::new());
        }
        let cells = &mut self.rows[row];
        if cells.len() <= column {
            cells.resize(column + 1, Value::Null);
        }
        cells[column] = value;
    }

    fn is_blank(&self, row: usize, column: usize) -> bool {
        matches!(self.get(row, column), Value::Null) || self.get(row, column) == json!("")
    }
}

/// A parsed range: sheet index and inclusive, 0-based bounds clipped to the grid.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    sheet: usize,
    top: usize,
    left: usize,
    bottom: usize,
    right: usize,
}

fn column_letters(mut column: usize) -> String {
    let mut letters = Vec::new();
    column += 1;
    while column > 0 {
        letters.push(b'A' + ((column - 1) % 26) as u8);
        column = (column - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap()
}

fn quoted_title(title: &str) -> String {
    if title.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        title.to_string()
    } else {
        format!("'{}'", title.replace('\'', "''"))
    }
}

fn a1(sheets: &[Sheet], bounds: Bounds) -> String {
    format!(
        "{}!{}{}:{}{}",
        quoted_title(&sheets[bounds.sheet].title),
        column_letters(bounds.left),
        bounds.top + 1,
        column_letters(bounds.right),
        bounds.bottom + 1
    )
}

/// Parses `A`, `1`, `A1` (with optional `$`) into 0-based column and row.
fn parse_cell(text: &str) -> Option<(Option<usize>, Option<usize>)> {
    let text = text.replace('$', "");
    let letters: String = text.chars().take_while(char::is_ascii_alphabetic).collect();
    let digits = &text[letters.len()..];
    if (letters.is_empty() && digits.is_empty()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let column = (!letters.is_empty()).then(|| {
        letters
            .to_ascii_uppercase()
            .bytes()
            .fold(0, |n, b| n * 26 + (b - b'A' + 1) as usize)
            - 1
    });
    let row = match digits {
        "" => None,
        digits => Some(digits.parse::<usize>().ok()?.checked_sub(1)?),
    };
    Some((column, row))
}

/// Resolves a range the way Sheets does: a sheet title alone, `sheet!cells`, or cells on the
/// first sheet.
fn resolve(sheets: &[Sheet], text: &str) -> Result<Bounds, String> {
    let unparsable = || format!("Unable to parse range: {text}");
    let (title, cells) = if let Some(rest) = text.strip_prefix('\'') {
        let mut title = String::new();
        let mut chars = rest.chars().peekable();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    title.push('\'');
                }
                Some('\'') => break,
                Some(c) => title.push(c),
                None => return Err(unparsable()),
            }
        }
        let after: String = chars.collect();
        match after.strip_prefix('!') {
            Some(cells) => (Some(title), Some(cells.to_string())),
            None if after.is_empty() => (Some(title), None),
            None => return Err(unparsable()),
        }
    } else if let Some((title, cells)) = text.split_once('!') {
        (Some(title.to_string()), Some(cells.to_string()))
    } else if sheets.iter().any(|sheet| sheet.title == text) {
        (Some(text.to_string()), None)
    } else {
        (None, Some(text.to_string()))
    };
    let sheet = match title {
        Some(title) => sheets
            .iter()
            .position(|sheet| sheet.title == title)
            .ok_or_else(unparsable)?,
        None => 0,
    };
    let grid = &sheets[sheet];
    let (last_row, last_column) = (grid.row_count - 1, grid.column_count - 1);
    let Some(cells) = cells else {
        return Ok(Bounds {
            sheet,
            top: 0,
            left: 0,
            bottom: last_row,
            right: last_column,
        });
    };
    let (start, end) = match cells.split_once(':') {
        Some((start, end)) => (
            parse_cell(start).ok_or_else(unparsable)?,
            Some(parse_cell(end).ok_or_else(unparsable)?),
        ),
        None => (parse_cell(&cells).ok_or_else(unparsable)?, None),
    };
    let bounds = match end {
        None => {
            let (Some(column), Some(row)) = start else {
                return Err(unparsable());
            };
            Bounds {
                sheet,
                top: row,
                left: column,
                bottom: row,
                right: column,
            }
        }
        Some(end) => Bounds {
            sheet,
            top: start.1.unwrap_or(0),
            left: start.0.unwrap_or(0),
            bottom: end.1.unwrap_or(last_row),
            right: end.0.unwrap_or(last_column),
        },
    };
    if bounds.bottom > last_row || bounds.right > last_column {
        return Err(format!(
            "Range ({text}) exceeds grid limits. Max rows: {}, max columns: {}",
            grid.row_count, grid.column_count
        ));
    }
    Ok(bounds)
}

/// Formats a stored value as FORMATTED_VALUE shows it.
fn formatted(value: &Value) -> Value {
    match value {
        Value::Number(number) => Value::String(match number.as_f64() {
            Some(float) if float.fract() == 0.0 => format!("{}", float as i64),
            _ => number.to_string(),
        }),
        Value::Bool(flag) => Value::String(if *flag { "TRUE" } else { "FALSE" }.into()),
        Value::Null => Value::String(String::new()),
        other => other.clone(),
    }
}

/// Converts an input value as USER_ENTERED does for numbers and booleans.
fn user_entered(value: &Value) -> Value {
    match value {
        Value::String(text) => {
            if let Ok(number) = text.parse::<i64>() {
                json!(number)
            } else if let Ok(number) = text.parse::<f64>() {
                json!(number)
            } else if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") {
                json!(text.eq_ignore_ascii_case("true"))
            } else {
                value.clone()
            }
        }
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The server.

/// One request to the Sheets API.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    /// The path as sent, still percent-encoded.
    raw_path: String,
    query: HashMap<String, String>,
    token: String,
}

/// One grant at the token endpoint.
#[derive(Debug, Clone)]
struct Grant {
    form: HashMap<String, String>,
    /// The verified JWT's header and claims, for a JWT bearer grant.
    header: Option<jsonwebtoken::Header>,
    claims: Option<Value>,
}

struct ServerState {
    token_url: String,
    spreadsheets: HashMap<String, (String, Vec<Sheet>)>,
    /// Issued access tokens and when they expire.
    tokens: HashMap<String, Instant>,
    expires_in: u64,
    issued: u64,
    grants: Vec<Grant>,
    received: Vec<Received>,
    unauthorized: usize,
    /// Error statuses returned, in order, to the next requests with the given method, each
    /// with an optional `Retry-After`.
    failures: Vec<Failure>,
}

struct Failure {
    method: &'static str,
    status: u16,
    retry_after: Option<&'static str>,
}

type Shared = web::Data<Mutex<ServerState>>;

fn google_error(code: u16, status: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
        .json(json!({ "error": { "code": code, "message": message, "status": status } }))
}

fn oauth_error(code: u16, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
        .json(json!({ "error": error, "error_description": description }))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The token endpoint: JWT bearer grants signed with the test key, and refresh-token grants.
async fn token(form: web::Form<HashMap<String, String>>, state: Shared) -> HttpResponse {
    let form = form.into_inner();
    let mut state = state.lock().unwrap();
    let mut grant = Grant {
        form: form.clone(),
        header: None,
        claims: None,
    };
    let outcome = match form.get("grant_type").map(String::as_str) {
        Some(JWT_BEARER) => check_assertion(&form, &state.token_url, &mut grant),
        Some("refresh_token") => {
            if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
                || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
            {
                Err(oauth_error(
                    401,
                    "invalid_client",
                    "The OAuth client was not found.",
                ))
            } else if form.get("refresh_token").map(String::as_str) != Some(REFRESH_TOKEN) {
                Err(oauth_error(
                    400,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                ))
            } else {
                Ok(())
            }
        }
        _ => Err(oauth_error(
            400,
            "unsupported_grant_type",
            "Invalid grant_type: ",
        )),
    };
    state.grants.push(grant);
    if let Err(response) = outcome {
        return response;
    }
    state.issued += 1;
    let access_token = format!("ya29.test-token-{}", state.issued);
    let expires_in = state.expires_in;
    state.tokens.insert(
        access_token.clone(),
        Instant::now() + Duration::from_secs(expires_in),
    );
    HttpResponse::Ok().json(json!({
        "access_token": access_token, "expires_in": expires_in, "scope": SCOPE,
        "token_type": "Bearer"
    }))
}

/// Verifies a JWT bearer assertion: RS256 signature by the test key, key id, issuer,
/// audience, scope and a lifetime of at most an hour that has begun.
fn check_assertion(
    form: &HashMap<String, String>,
    token_url: &str,
    grant: &mut Grant,
) -> Result<(), HttpResponse> {
    let invalid = |description: &str| oauth_error(400, "invalid_grant", description);
    let assertion = form
        .get("assertion")
        .ok_or_else(|| invalid("Missing required parameter: assertion"))?;
    let header =
        jsonwebtoken::decode_header(assertion).map_err(|_| invalid("Invalid JWT header"))?;
    let key = DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[token_url]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let data = jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .map_err(|_| invalid("Invalid JWT Signature."))?;
    let claims = data.claims;
    grant.header = Some(header.clone());
    grant.claims = Some(claims.clone());
    if header.kid.as_deref() != Some(KEY_ID) {
        return Err(invalid("Invalid JWT: unknown key id"));
    }
    if claims["scope"] != json!(SCOPE) {
        return Err(invalid("Invalid JWT: scope"));
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err(invalid("Invalid JWT: iat and exp are required"));
    };
    if iat > now() + 60 || iat + 300 < now() || exp <= iat || exp - iat > 3600 {
        return Err(invalid(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
             timeframe.",
        ));
    }
    Ok(())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn query_map(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// The Sheets v4 API.
async fn sheets(request: HttpRequest, body: web::Bytes, state: Shared) -> HttpResponse {
    let mut state = state.lock().unwrap();
    let raw_path = request.uri().path().to_string();
    let query = query_map(request.query_string());
    let method = request.method().to_string();

    if raw_path == "/$discovery/rest" {
        return HttpResponse::Ok().json(
            json!({ "kind": "discovery#restDescription", "name": "sheets", "version": "v4" }),
        );
    }
    let token = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    state.received.push(Received {
        method: method.clone(),
        raw_path: raw_path.clone(),
        query: query.clone(),
        token: token.clone(),
    });
    if let Some(index) = state.failures.iter().position(|f| f.method == method) {
        let failure = state.failures.remove(index);
        let mut response = google_error(failure.status, "UNAVAILABLE", "Try again later.");
        if let Some(seconds) = failure.retry_after {
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static(seconds),
            );
        }
        return response;
    }
    let valid = state
        .tokens
        .get(&token)
        .is_some_and(|expires| *expires > Instant::now());
    if !valid {
        state.unauthorized += 1;
        return google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential.",
        );
    }
    let Some(rest) = raw_path.strip_prefix("/v4/spreadsheets/") else {
        return google_error(404, "NOT_FOUND", "Requested entity was not found.");
    };
    let (head, tail) = match rest.split_once('/') {
        Some((head, tail)) => (head, Some(tail)),
        None => (rest, None),
    };
    let (id, action) = match head.split_once(':') {
        Some((id, action)) => (percent_decode(id), Some(action)),
        None => (percent_decode(head), None),
    };
    if id == LOCKED {
        return google_error(
            403,
            "PERMISSION_DENIED",
            "The caller does not have permission",
        );
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some((title, sheets)) = state.spreadsheets.get_mut(&id) else {
        return google_error(404, "NOT_FOUND", "Requested entity was not found.");
    };
    let result = match (method.as_str(), action, tail) {
        ("GET", None, None) => Ok(spreadsheet_get(&id, title, sheets)),
        ("POST", Some("batchUpdate"), None) => {
            let sheet_id = 1_000_000 + sheets.len() as i64;
            add_sheet(&id, sheets, &body, sheet_id)
        }
        (_, None, Some("values:batchUpdate")) if method == "POST" => {
            values_batch_update(&id, sheets, &body)
        }
        (_, None, Some(tail)) if tail.starts_with("values/") => {
            let segment = &tail["values/".len()..];
            let (range, verb) = match segment.rsplit_once(':') {
                Some((range, verb)) => (percent_decode(range), Some(verb)),
                None => (percent_decode(segment), None),
            };
            match (method.as_str(), verb) {
                ("GET", None) => values_get(sheets, &range, &query),
                ("PUT", None) => values_update(&id, sheets, &range, &query, &body),
                ("POST", Some("append")) => values_append(&id, sheets, &range, &query, &body),
                ("POST", Some("clear")) => values_clear(&id, sheets, &range),
                _ => Err(google_error(404, "NOT_FOUND", "Method not found.")),
            }
        }
        _ => Err(google_error(404, "NOT_FOUND", "Method not found.")),
    };
    match result {
        Ok(value) => HttpResponse::Ok().json(value),
        Err(response) => response,
    }
}

type Reply = Result<Value, HttpResponse>;

fn bad_request(message: &str) -> HttpResponse {
    google_error(400, "INVALID_ARGUMENT", message)
}

fn spreadsheet_get(id: &str, title: &str, sheets: &[Sheet]) -> Value {
    let sheets: Vec<Value> = sheets
        .iter()
        .enumerate()
        .map(|(index, sheet)| {
            json!({ "properties": {
            "sheetId": sheet.sheet_id, "title": sheet.title, "index": index, "sheetType": "GRID",
            "gridProperties": { "rowCount": sheet.row_count, "columnCount": sheet.column_count }
        } })
        })
        .collect();
    json!({ "spreadsheetId": id, "properties": { "title": title }, "sheets": sheets })
}

fn add_sheet(id: &str, sheets: &mut Vec<Sheet>, body: &Value, sheet_id: i64) -> Reply {
    let requests = body["requests"].as_array().cloned().unwrap_or_default();
    let [request] = requests.as_slice() else {
        return Err(bad_request("The test server takes exactly one request."));
    };
    let Some(properties) = request.get("addSheet").map(|add| &add["properties"]) else {
        return Err(bad_request(
            "Invalid requests[0]: only addSheet is supported here.",
        ));
    };
    let title = properties["title"].as_str().unwrap_or_default().to_string();
    if sheets.iter().any(|sheet| sheet.title == title) {
        return Err(bad_request(&format!(
            "Invalid requests[0].addSheet: A sheet with the name \"{title}\" already exists. \
             Please enter another name."
        )));
    }
    let mut sheet = Sheet::new(sheet_id, &title);
    if let Some(rows) = properties["gridProperties"]["rowCount"].as_u64() {
        sheet.row_count = rows as usize;
    }
    if let Some(columns) = properties["gridProperties"]["columnCount"].as_u64() {
        sheet.column_count = columns as usize;
    }
    let index = properties["index"]
        .as_u64()
        .map_or(sheets.len(), |index| (index as usize).min(sheets.len()));
    let reply = json!({ "addSheet": { "properties": {
        "sheetId": sheet.sheet_id, "title": title, "index": index, "sheetType": "GRID",
        "gridProperties": { "rowCount": sheet.row_count, "columnCount": sheet.column_count }
    } } });
    sheets.insert(index, sheet);
    Ok(json!({ "spreadsheetId": id, "replies": [reply] }))
}

fn values_get(sheets: &[Sheet], range: &str, query: &HashMap<String, String>) -> Reply {
    let bounds = resolve(sheets, range).map_err(|message| bad_request(&message))?;
    let sheet = &sheets[bounds.sheet];
    let render = query
        .get("valueRenderOption")
        .map_or("FORMATTED_VALUE", String::as_str);
    let mut values: Vec<Value> = Vec::new();
    for row in bounds.top..=bounds.bottom.min(sheet.rows.len().saturating_sub(1)) {
        if row >= sheet.rows.len() {
            break;
        }
        let mut cells: Vec<Value> = (bounds.left..=bounds.right)
            .map(|column| sheet.get(row, column))
            .collect();
        while cells.last().is_some_and(Value::is_null) {
            cells.pop();
        }
        let cells: Vec<Value> = cells
            .iter()
            .map(|cell| {
                if render == "FORMATTED_VALUE" {
                    formatted(cell)
                } else if cell.is_null() {
                    json!("")
                } else {
                    cell.clone()
                }
            })
            .collect();
        values.push(Value::Array(cells));
    }
    while values
        .last()
        .is_some_and(|row| row.as_array().unwrap().is_empty())
    {
        values.pop();
    }
    let mut reply = json!({ "range": a1(sheets, bounds), "majorDimension": "ROWS" });
    if !values.is_empty() {
        reply["values"] = Value::Array(values);
    }
    Ok(reply)
}

/// Writes rows at a range's top-left cell; returns the `UpdateValuesResponse`.
fn write(id: &str, sheets: &mut [Sheet], bounds: Bounds, values: &[Value], input: &str) -> Reply {
    let height = values.len();
    let width = values
        .iter()
        .filter_map(Value::as_array)
        .map(Vec::len)
        .max()
        .unwrap_or(0);
    if height > bounds.bottom - bounds.top + 1 || width > bounds.right - bounds.left + 1 {
        return Err(bad_request(&format!(
            "Requested writing within range [{}], but tried writing {height} rows of {width} \
             columns",
            a1(sheets, bounds)
        )));
    }
    let sheet = &mut sheets[bounds.sheet];
    let mut cells = 0;
    for (row_offset, row) in values.iter().enumerate() {
        for (column_offset, cell) in row.as_array().unwrap().iter().enumerate() {
            if cell.is_null() {
                continue;
            }
            let cell = if input == "USER_ENTERED" {
                user_entered(cell)
            } else {
                cell.clone()
            };
            sheet.set(bounds.top + row_offset, bounds.left + column_offset, cell);
            cells += 1;
        }
    }
    let written = Bounds {
        bottom: bounds.top + height.max(1) - 1,
        right: bounds.left + width.max(1) - 1,
        ..bounds
    };
    Ok(json!({
        "spreadsheetId": id, "updatedRange": a1(sheets, written), "updatedRows": height,
        "updatedColumns": width, "updatedCells": cells
    }))
}

fn input_option(query_or_body: Option<&str>) -> Result<String, HttpResponse> {
    match query_or_body {
        Some(option @ ("RAW" | "USER_ENTERED")) => Ok(option.to_string()),
        Some(other) => Err(bad_request(&format!(
            "Invalid value at 'value_input_option' \
             (type.googleapis.com/google.apps.sheets.v4.ValueInputOption), \"{other}\""
        ))),
        None => Err(bad_request(
            "'valueInputOption' is required but not specified",
        )),
    }
}

/// Resolves the range of a write. A single cell is where the values start, so it reaches to the
/// grid's edges.
fn write_target(sheets: &[Sheet], range: &str) -> Result<Bounds, HttpResponse> {
    let bounds = resolve(sheets, range).map_err(|message| bad_request(&message))?;
    let single = !range.rsplit('!').next().unwrap_or(range).contains(':')
        && bounds.top == bounds.bottom
        && bounds.left == bounds.right;
    if !single {
        return Ok(bounds);
    }
    let sheet = &sheets[bounds.sheet];
    Ok(Bounds {
        bottom: sheet.row_count - 1,
        right: sheet.column_count - 1,
        ..bounds
    })
}

fn values_update(
    id: &str,
    sheets: &mut [Sheet],
    range: &str,
    query: &HashMap<String, String>,
    body: &Value,
) -> Reply {
    let input = input_option(query.get("valueInputOption").map(String::as_str))?;
    let bounds = write_target(sheets, range)?;
    let values = body["values"].as_array().cloned().unwrap_or_default();
    write(id, sheets, bounds, &values, &input)
}

fn values_append(
    id: &str,
    sheets: &mut [Sheet],
    range: &str,
    query: &HashMap<String, String>,
    body: &Value,
) -> Reply {
    let input = input_option(query.get("valueInputOption").map(String::as_str))?;
    let insert = query
        .get("insertDataOption")
        .map_or("OVERWRITE", String::as_str)
        .to_string();
    let bounds = resolve(sheets, range).map_err(|message| bad_request(&message))?;
    let values = body["values"].as_array().cloned().unwrap_or_default();
    let sheet = &mut sheets[bounds.sheet];
    // The table is the run of rows from the range's top that has a value in its columns.
    let last_filled = (bounds.top..sheet.rows.len())
        .rfind(|&row| (bounds.left..=bounds.right).any(|column| !sheet.is_blank(row, column)));
    let at = last_filled.map_or(bounds.top, |row| row + 1);
    let table_right = (bounds.left..=bounds.right)
        .rfind(|&column| (bounds.top..sheet.rows.len()).any(|row| !sheet.is_blank(row, column)));
    if insert == "INSERT_ROWS" && at < sheet.rows.len() {
        for _ in 0..values.len() {
            sheet.rows.insert(at, Vec::new());
        }
    }
    if insert == "INSERT_ROWS" {
        sheet.row_count += values.len();
    } else {
        sheet.row_count = sheet.row_count.max(at + values.len());
    }
    let target = Bounds {
        top: at,
        bottom: sheet.row_count - 1,
        ..bounds
    };
    let updates = write(id, sheets, target, &values, &input)?;
    let mut reply = json!({ "spreadsheetId": id, "updates": updates });
    if let (Some(last), Some(right)) = (last_filled, table_right) {
        let table = Bounds {
            bottom: last,
            right,
            ..bounds
        };
        reply["tableRange"] = json!(a1(sheets, table));
    }
    Ok(reply)
}

fn values_clear(id: &str, sheets: &mut [Sheet], range: &str) -> Reply {
    let bounds = resolve(sheets, range).map_err(|message| bad_request(&message))?;
    let sheet = &mut sheets[bounds.sheet];
    for row in bounds.top..=bounds.bottom.min(sheet.rows.len().saturating_sub(1)) {
        for column in bounds.left..=bounds.right {
            if row < sheet.rows.len() && column < sheet.rows[row].len() {
                sheet.rows[row][column] = Value::Null;
            }
        }
    }
    Ok(json!({ "spreadsheetId": id, "clearedRange": a1(sheets, bounds) }))
}

fn values_batch_update(id: &str, sheets: &mut [Sheet], body: &Value) -> Reply {
    let input = input_option(body["valueInputOption"].as_str())?;
    let data = body["data"].as_array().cloned().unwrap_or_default();
    // Every range is checked before any is written, as the real API applies all or none.
    let mut targets = Vec::new();
    for entry in &data {
        let range = entry["range"].as_str().unwrap_or_default();
        targets.push(write_target(sheets, range)?);
    }
    let mut responses = Vec::new();
    for (entry, bounds) in data.iter().zip(targets) {
        let values = entry["values"].as_array().cloned().unwrap_or_default();
        responses.push(write(id, sheets, bounds, &values, &input)?);
    }
    let total = |name: &str| {
        responses
            .iter()
            .map(|response| response[name].as_u64().unwrap())
            .sum::<u64>()
    };
    let sheets_touched: std::collections::HashSet<String> = responses
        .iter()
        .map(|response| {
            response["updatedRange"]
                .as_str()
                .unwrap()
                .split('!')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    Ok(json!({
        "spreadsheetId": id,
        "totalUpdatedRows": total("updatedRows"),
        "totalUpdatedColumns": total("updatedColumns"),
        "totalUpdatedCells": total("updatedCells"),
        "totalUpdatedSheets": sheets_touched.len(),
        "responses": responses,
    }))
}

struct Api {
    port: u16,
    state: Shared,
}

impl Api {
    async fn start() -> Self {
        let state: Shared = web::Data::new(Mutex::new(ServerState {
            token_url: String::new(),
            spreadsheets: HashMap::new(),
            tokens: HashMap::new(),
            expires_in: 3599,
            issued: 0,
            grants: Vec::new(),
            received: Vec::new(),
            unauthorized: 0,
            failures: Vec::new(),
        }));
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/token", web::post().to(token))
                .default_service(web::to(sheets))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        let api = Api { port, state };
        {
            let mut state = api.state.lock().unwrap();
            state.token_url = api.token_url();
            let mut penguins = Sheet::new(0, "Penguins");
            penguins.rows = vec![
                vec![json!("species"), json!("island"), json!("body_mass_g")],
                vec![json!("Adelie"), json!("Torgersen"), json!(3750)],
                vec![json!("Gentoo"), json!("Biscoe"), json!(5400)],
            ];
            let notes = Sheet::new(1_000, "Bob's notes");
            state.spreadsheets.insert(
                SPREADSHEET.into(),
                ("Palmer Penguins".into(), vec![penguins, notes]),
            );
            state.spreadsheets.insert(
                LOCKED.into(),
                ("Locked".into(), vec![Sheet::new(0, "Sheet1")]),
            );
        }
        api
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn token_url(&self) -> String {
        format!("{}/token", self.url())
    }

    fn grants(&self) -> Vec<Grant> {
        self.state.lock().unwrap().grants.clone()
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    fn last(&self) -> Received {
        self.received()
            .pop()
            .expect("the server received a request")
    }

    fn set_expires_in(&self, seconds: u64) {
        self.state.lock().unwrap().expires_in = seconds;
    }

    /// Forgets every issued token, as when Google revokes them.
    fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    fn accept_token(&self, token: &str) {
        self.state
            .lock()
            .unwrap()
            .tokens
            .insert(token.into(), Instant::now() + Duration::from_secs(3600));
    }

    /// Returns `status` to the next request with `method`.
    fn fail_next(&self, method: &'static str, status: u16, retry_after: Option<&'static str>) {
        self.state.lock().unwrap().failures.push(Failure {
            method,
            status,
            retry_after,
        });
    }

    fn unauthorized(&self) -> usize {
        self.state.lock().unwrap().unauthorized
    }

    /// The cells of a sheet as stored.
    fn cells(&self, title: &str) -> Vec<Vec<Value>> {
        let state = self.state.lock().unwrap();
        let (_, sheets) = &state.spreadsheets[SPREADSHEET];
        sheets
            .iter()
            .find(|sheet| sheet.title == title)
            .unwrap()
            .rows
            .clone()
    }

    fn service_account(&self) -> Value {
        service_account_config(&self.url(), TEST_KEY)
    }

    fn service_account_with(&self, private_key: &str) -> Value {
        service_account_config(&self.url(), private_key)
    }

    fn oauth(&self, access_token: Option<&str>) -> Value {
        let mut config = json!({
            "base_url": self.url(),
            "token_url": self.token_url(),
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
            "spreadsheet_id": SPREADSHEET,
        });
        if let Some(token) = access_token {
            config["access_token"] = token.into();
        }
        config
    }
}

/// A service-account config for a server at `url`, with its token endpoint at `/token`.
fn service_account_config(url: &str, private_key: &str) -> Value {
    // Google's key files carry more fields than the connector reads.
    let key = json!({
        "type": "service_account",
        "project_id": "trellis-tests",
        "private_key_id": KEY_ID,
        "private_key": private_key,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "universe_domain": "googleapis.com"
    });
    json!({
        "base_url": url,
        "token_url": format!("{url}/token"),
        "service_account_key": key.to_string(),
        "spreadsheet_id": SPREADSHEET,
    })
}

// ---------------------------------------------------------------------------------------------
// The harness.

/// Loads the connector; its calls may reach the test server on `port`.
async fn harness(port: u16) -> BuiltinHarness {
    let internal = vec![InternalHost::parse(&format!("127.0.0.1:{port}")).unwrap()];
    BuiltinHarness::new("google-sheets", internal).await
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn google_sheets_is_listed_as_builtin() {
    assert!(BUILTIN_COMPONENTS
        .iter()
        .any(|(name, _)| *name == "google-sheets"));
}

#[tokio::test]
async fn manifest_marks_secrets_and_read_only() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let manifest = &harness.plugin.manifest;
    let read_only: HashMap<&str, bool> = manifest
        .operations
        .iter()
        .map(|operation| (operation.name.as_str(), operation.read_only))
        .collect();

    assert_eq!(manifest.id, "google-sheets");
    assert_eq!(
        manifest.secret_fields,
        [
            "service_account_key",
            "client_secret",
            "refresh_token",
            "access_token"
        ]
        .map(String::from)
    );
    assert_eq!(
        manifest.base_url_fields,
        ["base_url", "token_url"].map(String::from)
    );
    assert_eq!(
        manifest.config_schema["properties"]["base_url"]["default"],
        json!("https://sheets.googleapis.com")
    );
    assert_eq!(
        manifest.config_schema["properties"]["token_url"]["default"],
        json!("https://oauth2.googleapis.com/token")
    );
    assert_eq!(
        read_only,
        HashMap::from([
            ("read-range", true),
            ("list-sheets", true),
            ("append-rows", false),
            ("update-range", false),
            ("clear-range", false),
            ("create-sheet", false),
            ("batch-update", false),
        ])
    );
}

#[tokio::test]
async fn read_range_returns_header_objects() {
    let api = Api::start().await;
    let harness = harness(api.port).await;

    let output = harness
        .execute(
            &api.service_account(),
            "read-range",
            json!({ "range": "Penguins!A1:C" }),
        )
        .await
        .unwrap();

    assert_eq!(output["spreadsheet_id"], json!(SPREADSHEET));
    assert_eq!(output["range"], json!("Penguins!A1:C1000"));
    assert_eq!(
        output["headers"],
        json!(["species", "island", "body_mass_g"])
    );
    assert_eq!(
        output["rows"],
        json!([
            { "species": "Adelie", "island": "Torgersen", "body_mass_g": "3750" },
            { "species": "Gentoo", "island": "Biscoe", "body_mass_g": "5400" }
        ])
    );
    let request = api.last();
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.raw_path,
        format!("/v4/spreadsheets/{SPREADSHEET}/values/Penguins%21A1%3AC")
    );
    assert_eq!(request.query["valueRenderOption"], "FORMATTED_VALUE");
    assert_eq!(request.query["majorDimension"], "ROWS");
}

#[tokio::test]
async fn read_range_raw_rows_unformatted() {
    let api = Api::start().await;
    let harness = harness(api.port).await;

    let output = harness
        .execute(
            &api.service_account(),
            "read-range",
            json!({ "range": "Penguins!A2:C3", "header": false,
                    "value_render_option": "UNFORMATTED_VALUE",
                    "date_time_render_option": "FORMATTED_STRING" }),
        )
        .await
        .unwrap();

    assert_eq!(
        output["rows"],
        json!([["Adelie", "Torgersen", 3750], ["Gentoo", "Biscoe", 5400]])
    );
    assert!(output.get("headers").is_none(), "{output}");
    let request = api.last();
    assert_eq!(request.query["valueRenderOption"], "UNFORMATTED_VALUE");
    assert_eq!(request.query["dateTimeRenderOption"], "FORMATTED_STRING");
}

#[tokio::test]
async fn quoted_sheet_name_percent_encoded() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();

    harness
        .execute(
            &config,
            "update-range",
            json!({ "range": "'Bob''s notes'!B2", "values": [["hi"]] }),
        )
        .await
        .unwrap();
    let output = harness
        .execute(
            &config,
            "read-range",
            json!({ "range": "'Bob''s notes'!B2", "header": false }),
        )
        .await
        .unwrap();

    assert_eq!(
        api.last().raw_path,
        format!("/v4/spreadsheets/{SPREADSHEET}/values/%27Bob%27%27s%20notes%27%21B2")
    );
    assert_eq!(output["rows"], json!([["hi"]]));
    assert_eq!(output["range"], json!("'Bob''s notes'!B2:B2"));
}

#[tokio::test]
async fn append_places_objects_by_header() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();

    let output = harness
        .execute(
            &config,
            "append-rows",
            json!({ "range": "Penguins", "rows": [
                { "body_mass_g": 3450, "species": "Chinstrap", "island": "Dream" },
                { "species": "Adelie" }
            ] }),
        )
        .await
        .unwrap();
    let read = harness
        .execute(
            &config,
            "read-range",
            json!({ "range": "Penguins", "value_render_option": "UNFORMATTED_VALUE" }),
        )
        .await
        .unwrap();

    let received = api.received();
    let header_read = &received[received.len() - 3];
    assert_eq!(
        header_read.raw_path,
        format!("/v4/spreadsheets/{SPREADSHEET}/values/Penguins%211%3A1")
    );
    let append = &received[received.len() - 2];
    assert_eq!(append.method, "POST");
    assert_eq!(
        append.raw_path,
        format!("/v4/spreadsheets/{SPREADSHEET}/values/Penguins:append")
    );
    assert_eq!(append.query["valueInputOption"], "RAW");
    assert_eq!(append.query["insertDataOption"], "INSERT_ROWS");
    assert_eq!(output["table_range"], json!("Penguins!A1:C3"));
    assert_eq!(output["updated_range"], json!("Penguins!A4:C5"));
    assert_eq!(output["updated_rows"], json!(2));
    assert_eq!(output["updated_cells"], json!(4));
    assert_eq!(
        read["rows"][2],
        json!({ "species": "Chinstrap", "island": "Dream", "body_mass_g": 3450 })
    );
    assert_eq!(
        read["rows"][3],
        json!({ "species": "Adelie", "island": null, "body_mass_g": null })
    );
}

#[tokio::test]
async fn append_unknown_columns_named() {
    let api = Api::start().await;
    let harness = harness(api.port).await;

    let result = harness
        .execute(
            &api.service_account(),
            "append-rows",
            json!({ "range": "Penguins!A:C", "rows": [
                { "species": "Adelie", "sex": "male" },
                { "species": "Gentoo", "flipper_length_mm": 217, "sex": "female" }
            ] }),
        )
        .await;

    let message = invalid_input(result);
    assert!(message.contains("`flipper_length_mm` (row 2)"), "{message}");
    assert!(message.contains("`sex` (row 1)"), "{message}");
    assert!(
        message.contains("`species`, `island`, `body_mass_g`"),
        "{message}"
    );
    assert!(
        api.received()
            .iter()
            .all(|request| !request.raw_path.ends_with(":append")),
        "nothing is appended when a row does not fit the header"
    );
    assert_eq!(api.cells("Penguins").len(), 3);
}

#[tokio::test]
async fn append_raw_rows_user_entered_overwrite() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();

    let output = harness
        .execute(
            &config,
            "append-rows",
            json!({ "range": "Penguins!A1:C", "rows": [["Chinstrap", "Dream", "3500"]],
                    "value_input_option": "USER_ENTERED", "insert_data_option": "OVERWRITE" }),
        )
        .await
        .unwrap();

    let append = api.last();
    assert_eq!(api.received().len(), 1, "raw rows need no header read");
    assert_eq!(append.query["valueInputOption"], "USER_ENTERED");
    assert_eq!(append.query["insertDataOption"], "OVERWRITE");
    assert_eq!(output["updated_range"], json!("Penguins!A4:C4"));
    assert_eq!(
        api.cells("Penguins")[3],
        vec![json!("Chinstrap"), json!("Dream"), json!(3500)]
    );
}

#[tokio::test]
async fn append_to_empty_header_rejected() {
    let api = Api::start().await;
    let harness = harness(api.port).await;

    let result = harness
        .execute(
            &api.service_account(),
            "append-rows",
            json!({ "range": "'Bob''s notes'", "rows": [{ "note": "hi" }] }),
        )
        .await;

    let message = invalid_input(result);
    assert!(
        message.contains("header row 'Bob''s notes'!1:1 is empty"),
        "{message}"
    );
}

#[tokio::test]
async fn update_then_clear_range() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();

    let updated = harness
        .execute(
            &config,
            "update-range",
            json!({ "range": "Penguins!B2:C3", "values": [["Dream", 3800], ["Biscoe", null]] }),
        )
        .await
        .unwrap();
    let update = api.last();
    let after_update = harness
        .execute(
            &config,
            "read-range",
            json!({ "range": "Penguins!A2:C3", "header": false }),
        )
        .await
        .unwrap();
    let cleared = harness
        .execute(&config, "clear-range", json!({ "range": "Penguins!A3:C3" }))
        .await
        .unwrap();
    let clear = api.last();
    let after_clear = harness
        .execute(
            &config,
            "read-range",
            json!({ "range": "Penguins", "header": false }),
        )
        .await
        .unwrap();

    assert_eq!(update.method, "PUT");
    assert_eq!(update.query["valueInputOption"], "RAW");
    assert_eq!(updated["updated_range"], json!("Penguins!B2:C3"));
    assert_eq!(updated["updated_cells"], json!(3));
    assert_eq!(
        after_update["rows"],
        json!([["Adelie", "Dream", "3800"], ["Gentoo", "Biscoe", "5400"]])
    );
    assert_eq!(clear.method, "POST");
    assert_eq!(
        clear.raw_path,
        format!("/v4/spreadsheets/{SPREADSHEET}/values/Penguins%21A3%3AC3:clear")
    );
    assert_eq!(cleared["cleared_range"], json!("Penguins!A3:C3"));
    assert_eq!(after_clear["rows"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn create_sheet_then_list_and_append() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();

    let created = harness
        .execute(
            &config,
            "create-sheet",
            json!({ "title": "Q1 'field' data", "index": 0, "row_count": 50, "column_count": 5,
                    "headers": ["date", "count"] }),
        )
        .await
        .unwrap();
    let listed = harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();
    harness
        .execute(
            &config,
            "append-rows",
            json!({ "range": "'Q1 ''field'' data'",
                    "rows": [{ "count": 12, "date": "2024-01-05" }] }),
        )
        .await
        .unwrap();
    let duplicate = harness
        .execute(&config, "create-sheet", json!({ "title": "Penguins" }))
        .await;

    assert_eq!(created["title"], json!("Q1 'field' data"));
    assert_eq!(created["index"], json!(0));
    assert_eq!(created["row_count"], json!(50));
    assert_eq!(created["column_count"], json!(5));
    assert_eq!(created["header_range"], json!("'Q1 ''field'' data'!A1:B1"));
    assert_eq!(listed["title"], json!("Palmer Penguins"));
    let titles: Vec<&str> = listed["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sheet| sheet["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Q1 'field' data", "Penguins", "Bob's notes"]);
    assert_eq!(
        listed["sheets"][1],
        json!({ "sheet_id": 0, "title": "Penguins", "index": 1,
        "sheet_type": "GRID", "row_count": 1000, "column_count": 26 })
    );
    assert_eq!(
        api.cells("Q1 'field' data"),
        vec![
            vec![json!("date"), json!("count")],
            vec![json!("2024-01-05"), json!(12)]
        ]
    );
    let (status, message) = upstream(duplicate);
    assert_eq!(status, Some(400));
    assert!(message.contains("INVALID_ARGUMENT"), "{message}");
    assert!(message.contains("already exists"), "{message}");
}

#[tokio::test]
async fn batch_update_writes_every_range() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();

    let output = harness
        .execute(
            &config,
            "batch-update",
            json!({ "value_input_option": "USER_ENTERED", "data": [
                { "range": "Penguins!D1:D3", "values": [["year"], ["2007"], ["2008"]] },
                { "range": "'Bob''s notes'!A1", "values": [["checked"]] }
            ] }),
        )
        .await
        .unwrap();

    let request = api.last();
    assert_eq!(
        request.raw_path,
        format!("/v4/spreadsheets/{SPREADSHEET}/values:batchUpdate")
    );
    assert_eq!(output["total_updated_cells"], json!(4));
    assert_eq!(output["total_updated_rows"], json!(4));
    assert_eq!(output["total_updated_sheets"], json!(2));
    assert_eq!(
        output["responses"][0]["updated_range"],
        json!("Penguins!D1:D3")
    );
    assert_eq!(
        output["responses"][1]["updated_range"],
        json!("'Bob''s notes'!A1:A1")
    );
    assert_eq!(api.cells("Penguins")[1][3], json!(2007));
    assert_eq!(api.cells("Bob's notes")[0][0], json!("checked"));
}

#[tokio::test]
async fn invalid_range_and_id_rejected_before_request() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();

    let unquoted = harness
        .execute(&config, "read-range", json!({ "range": "My sheet!A1" }))
        .await;
    let malformed = harness
        .execute(&config, "clear-range", json!({ "range": "Penguins!A1:" }))
        .await;
    let id = harness
        .execute(
            &config,
            "list-sheets",
            json!({ "spreadsheet_id": "../../v4/other" }),
        )
        .await;
    let batch = harness
        .execute(
            &config,
            "batch-update",
            json!({ "data": [{ "range": "Penguins!A0", "values": [[1]] }] }),
        )
        .await;
    let mut no_default = api.service_account();
    no_default.as_object_mut().unwrap().remove("spreadsheet_id");
    let missing = harness.execute(&no_default, "list-sheets", json!({})).await;

    assert!(invalid_input(unquoted).contains("'My sheet'!A1:D10"));
    assert!(invalid_input(malformed).contains("the field `range` is invalid"));
    assert!(invalid_input(id).contains("the field `spreadsheet_id` is invalid"));
    assert!(invalid_input(batch).contains("`data[0].range` is invalid"));
    assert!(invalid_input(missing).contains("`spreadsheet_id` is missing"));
    assert!(api.received().is_empty(), "{:?}", api.received());
}

#[tokio::test]
async fn spreadsheet_url_accepted_as_id() {
    let api = Api::start().await;
    let harness = harness(api.port).await;

    let output = harness
        .execute(
            &api.service_account(),
            "list-sheets",
            json!({ "spreadsheet_id":
                format!("https://docs.google.com/spreadsheets/d/{SPREADSHEET}/edit#gid=0") }),
        )
        .await
        .unwrap();

    assert_eq!(output["spreadsheet_id"], json!(SPREADSHEET));
    assert_eq!(
        api.last().raw_path,
        format!("/v4/spreadsheets/{SPREADSHEET}")
    );
    assert_eq!(
        api.last().query["fields"],
        "spreadsheetId,properties.title,sheets.properties"
    );
}

#[tokio::test]
async fn google_errors_pass_through() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();

    let bad_range = harness
        .execute(&config, "read-range", json!({ "range": "Walruses!A1:B2" }))
        .await;
    let forbidden = harness
        .execute(
            &config,
            "read-range",
            json!({ "spreadsheet_id": LOCKED, "range": "Sheet1" }),
        )
        .await;
    let missing = harness
        .execute(&config, "list-sheets", json!({ "spreadsheet_id": MISSING }))
        .await;

    let (status, message) = upstream(bad_range);
    assert_eq!(status, Some(400));
    assert_eq!(
        message,
        "the Google Sheets API returned 400 INVALID_ARGUMENT: Unable to parse range: \
         Walruses!A1:B2"
    );
    let (status, message) = upstream(forbidden);
    assert_eq!(status, Some(403));
    assert_eq!(
        message,
        "the Google Sheets API returned 403 PERMISSION_DENIED: The caller does not have permission"
    );
    let (status, message) = upstream(missing);
    assert_eq!(status, Some(404));
    assert_eq!(
        message,
        "the Google Sheets API returned 404 NOT_FOUND: Requested entity was not found."
    );
}

#[tokio::test]
async fn read_retried_after_quota_and_server_errors() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();
    api.fail_next("GET", 429, Some("0"));
    api.fail_next("GET", 503, None);

    let output = harness
        .execute(&config, "read-range", json!({ "range": "Penguins" }))
        .await
        .unwrap();

    let reads = api.received().iter().filter(|r| r.method == "GET").count();
    assert_eq!(reads, 3);
    assert_eq!(output["rows"][0]["species"], json!("Adelie"));
}

#[tokio::test]
async fn read_gives_up_after_max_attempts() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let mut config = api.service_account();
    config["max_attempts"] = json!(2);
    for _ in 0..3 {
        api.fail_next("GET", 503, Some("0"));
    }

    let result = harness
        .execute(&config, "read-range", json!({ "range": "Penguins" }))
        .await;

    let (status, _) = upstream(result);
    assert_eq!(status, Some(503));
    let reads = api.received().iter().filter(|r| r.method == "GET").count();
    assert_eq!(reads, 2);
}

#[tokio::test]
async fn append_not_sent_again_after_server_error() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();
    api.fail_next("POST", 503, Some("0"));

    let result = harness
        .execute(
            &config,
            "append-rows",
            json!({ "range": "Penguins", "rows": [{ "species": "Chinstrap" }] }),
        )
        .await;

    let (status, _) = upstream(result);
    assert_eq!(status, Some(503));
    let appends = api.received().iter().filter(|r| r.method == "POST").count();
    assert_eq!(appends, 1);
    assert_eq!(api.cells("Penguins").len(), 3);
}

#[tokio::test]
async fn append_retried_after_quota_error() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();
    api.fail_next("POST", 429, Some("0"));

    let output = harness
        .execute(
            &config,
            "append-rows",
            json!({ "range": "Penguins", "rows": [{ "species": "Chinstrap" }] }),
        )
        .await
        .unwrap();

    let appends = api.received().iter().filter(|r| r.method == "POST").count();
    assert_eq!(appends, 2);
    assert_eq!(output["updated_rows"], json!(1));
    assert_eq!(api.cells("Penguins").len(), 4);
}

#[tokio::test]
async fn max_attempts_out_of_range_rejected() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let mut config = api.service_account();
    config["max_attempts"] = json!(0);

    let result = harness
        .execute(&config, "read-range", json!({ "range": "Penguins" }))
        .await;

    let message = format!("{:?}", result.unwrap_err());
    assert!(message.contains("max_attempts"), "{message}");
}

#[tokio::test]
async fn service_account_jwt_signed_and_token_cached() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();

    harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();
    harness
        .execute(&config, "read-range", json!({ "range": "Penguins" }))
        .await
        .unwrap();
    harness
        .execute(
            &config,
            "append-rows",
            json!({ "range": "Penguins", "rows": [{ "species": "Adelie" }] }),
        )
        .await
        .unwrap();

    let grants = api.grants();
    assert_eq!(
        grants.len(),
        1,
        "one token serves every call until it expires"
    );
    let grant = &grants[0];
    assert_eq!(grant.form["grant_type"], JWT_BEARER);
    let header = grant.header.as_ref().unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some(KEY_ID));
    let claims = grant.claims.as_ref().unwrap();
    assert_eq!(claims["iss"], json!(CLIENT_EMAIL));
    assert_eq!(claims["scope"], json!(SCOPE));
    assert_eq!(claims["aud"], json!(api.token_url()));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    assert!(claims.get("sub").is_none(), "{claims}");
    let received = api.received();
    assert_eq!(received.len(), 4);
    assert!(
        received
            .iter()
            .all(|request| request.token == "ya29.test-token-1"),
        "{received:?}"
    );
}

#[tokio::test]
async fn subject_sent_as_jwt_sub() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let mut config = api.service_account();
    config["subject"] = json!("analyst@example.com");

    harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();

    let claims = api.grants()[0].claims.clone().unwrap();
    assert_eq!(claims["sub"], json!("analyst@example.com"));
}

#[tokio::test]
async fn token_fetched_again_after_expiry() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();
    // A 6-second token is replaced halfway through its life, so after 3 seconds.
    api.set_expires_in(6);

    harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();
    harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();
    let before_expiry = api.grants().len();
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();

    assert_eq!(before_expiry, 1);
    assert_eq!(api.grants().len(), 2);
    assert_eq!(api.last().token, "ya29.test-token-2");
    assert_eq!(
        api.unauthorized(),
        0,
        "the connector replaces the token before the API rejects it"
    );
}

#[tokio::test]
async fn rejected_token_replaced_once() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.service_account();

    harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();
    api.revoke_tokens();
    let output = harness.execute(&config, "list-sheets", json!({})).await;
    harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();

    assert!(output.is_ok(), "{output:?}");
    assert_eq!(api.unauthorized(), 1);
    assert_eq!(api.grants().len(), 2);
    let tokens: Vec<String> = api
        .received()
        .into_iter()
        .map(|request| request.token)
        .collect();
    assert_eq!(
        tokens,
        [
            "ya29.test-token-1",
            "ya29.test-token-1",
            "ya29.test-token-2",
            "ya29.test-token-2"
        ]
    );
}

#[tokio::test]
async fn oauth_refresh_token_grant_cached() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let config = api.oauth(None);

    harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();
    harness
        .execute(&config, "read-range", json!({ "range": "Penguins" }))
        .await
        .unwrap();

    let grants = api.grants();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].form["grant_type"], "refresh_token");
    assert_eq!(grants[0].form["client_id"], CLIENT_ID);
    assert_eq!(grants[0].form["client_secret"], CLIENT_SECRET);
    assert_eq!(grants[0].form["refresh_token"], REFRESH_TOKEN);
    assert!(api
        .received()
        .iter()
        .all(|request| request.token == "ya29.test-token-1"));
}

#[tokio::test]
async fn oauth_access_token_refreshed_on_401() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    api.accept_token("ya29.given-by-user");
    let config = api.oauth(Some("ya29.given-by-user"));

    harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();
    let grants_before_revoke = api.grants().len();
    api.revoke_tokens();
    harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();
    harness
        .execute(&config, "list-sheets", json!({}))
        .await
        .unwrap();

    assert_eq!(
        grants_before_revoke, 0,
        "the config's access token is used first"
    );
    assert_eq!(api.grants().len(), 1);
    assert_eq!(
        api.unauthorized(),
        1,
        "the rejected access token is not sent again"
    );
    let tokens: Vec<String> = api
        .received()
        .into_iter()
        .map(|request| request.token)
        .collect();
    assert_eq!(
        tokens,
        [
            "ya29.given-by-user",
            "ya29.given-by-user",
            "ya29.test-token-1",
            "ya29.test-token-1"
        ]
    );
}

#[tokio::test]
async fn token_endpoint_errors_are_authentication_failures() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let mut wrong_secret = api.oauth(None);
    wrong_secret["client_secret"] = json!("not-the-secret");

    let bad_signature = harness
        .execute(
            &api.service_account_with(UNKNOWN_KEY),
            "list-sheets",
            json!({}),
        )
        .await;
    let bad_client = harness
        .execute(&wrong_secret, "list-sheets", json!({}))
        .await;

    let (status, message) = upstream(bad_signature);
    assert_eq!(status, Some(400));
    assert_eq!(
        message,
        "authentication failed: the token endpoint returned 400: invalid_grant: \
         Invalid JWT Signature."
    );
    let (status, message) = upstream(bad_client);
    assert_eq!(status, Some(401));
    assert!(
        message.contains("invalid_client: The OAuth client was not found."),
        "{message}"
    );
    assert!(api.received().is_empty());
}

#[tokio::test]
async fn malformed_key_is_invalid_config() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let mut config = api.service_account();
    config["service_account_key"] = json!("{\"type\": \"service_account\"");

    let result = harness.execute(&config, "list-sheets", json!({})).await;

    let Err(RunError::InvalidConfig { message }) = result else {
        panic!("expected an invalid-config error, got {result:?}");
    };
    assert!(
        message.contains("`service_account_key` is not a JSON key file"),
        "{message}"
    );
    assert!(api.grants().is_empty());
}

#[tokio::test]
async fn connection_test_names_failed_step() {
    let api = Api::start().await;
    let harness = harness(api.port).await;
    let mut without_spreadsheet = api.service_account();
    without_spreadsheet
        .as_object_mut()
        .unwrap()
        .remove("spreadsheet_id");
    let mut locked = api.service_account();
    locked["spreadsheet_id"] = json!(LOCKED);
    let mut missing = api.service_account();
    missing["spreadsheet_id"] = json!(MISSING);

    let ok = harness.test_connection(&api.service_account()).await;
    let ok_request = api.last();
    let ok_without_spreadsheet = harness.test_connection(&without_spreadsheet).await;
    let bad_key = harness
        .test_connection(&api.service_account_with(UNKNOWN_KEY))
        .await;
    let forbidden = harness.test_connection(&locked).await;
    let not_found = harness.test_connection(&missing).await;

    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(
        ok_request.raw_path,
        format!("/v4/spreadsheets/{SPREADSHEET}")
    );
    assert_eq!(ok_request.query["fields"], "spreadsheetId");
    assert!(ok_without_spreadsheet.is_ok(), "{ok_without_spreadsheet:?}");
    let (status, message) = upstream(bad_key);
    assert_eq!(status, Some(400));
    assert!(
        message.starts_with("the connection test failed at the authentication step"),
        "{message}"
    );
    assert!(message.contains("Invalid JWT Signature."), "{message}");
    let (status, message) = upstream(forbidden);
    assert_eq!(status, Some(403));
    assert!(
        message.starts_with("the connection test failed at the authentication step"),
        "{message}"
    );
    assert!(message.contains("PERMISSION_DENIED"), "{message}");
    let (status, message) = upstream(not_found);
    assert_eq!(status, Some(404));
    assert!(
        message.starts_with("the connection test failed at the request step"),
        "{message}"
    );
    assert!(message.contains("NOT_FOUND"), "{message}");
    assert_eq!(
        api.grants().len(),
        5,
        "each connection test gets a new token"
    );
}

#[tokio::test]
async fn connection_test_names_connect_step() {
    let refused = {
        // Bind and drop a listener to find a loopback port with nothing behind it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let harness = harness(refused).await;
    let config = service_account_config(&format!("http://127.0.0.1:{refused}"), TEST_KEY);

    let result = harness.test_connection(&config).await;

    let (status, message) = upstream(result);
    assert_eq!(status, None);
    assert!(
        message.starts_with(
            "the connection test failed at the connect step (the token endpoint http://127.0.0.1:"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn connection_test_names_tls_step() {
    let port = start_tls_listener().await;
    let harness = harness(port).await;
    let api = Api::start().await;
    let mut config = api.service_account();
    config["token_url"] = json!(format!("https://127.0.0.1:{port}/token"));

    let result = harness.test_connection(&config).await;

    let (_, message) = upstream(result);
    assert!(
        message.starts_with("the connection test failed at the TLS step"),
        "{message}"
    );
}

#[tokio::test]
async fn loopback_denied_unless_allowed() {
    let api = Api::start().await;
    let mut harness = harness(api.port).await;
    // No workspace admin allowed the loopback server, so the host refuses it.
    harness.internal.clear();

    let result = harness
        .execute(&api.service_account(), "list-sheets", json!({}))
        .await;

    let Err(RunError::Denied { message }) = result else {
        panic!("expected a denied error, got {result:?}");
    };
    assert!(
        message.contains("only the origins of `base_url` and `token_url`"),
        "{message}"
    );
    assert!(api.grants().is_empty());
}

/// Starts an HTTPS listener on loopback whose certificate is signed by the test CA in
/// `tests/data/tls`, which the connector does not trust, so every handshake fails.
async fn start_tls_listener() -> u16 {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::{crypto, ServerConfig};

    let certificates = CertificateDer::pem_slice_iter(include_bytes!("../data/tls/server.pem"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../data/tls/server-key.pem")).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    port
}
