//! Calling Slack: Web API methods with a bot token and posts to an incoming webhook, with
//! retries of rate-limited requests, and the errors that Slack's responses become.

use std::time::{Duration, Instant};

use trellis_connector_sdk::http::{Request, Response};
use trellis_connector_sdk::{log, Error, Value};

use crate::config::WebApi;

/// Characters of an unexpected response body kept in an error message.
const ERROR_BODY_CHARS: usize = 1_000;

/// Wait before retrying a rate-limited request whose response has no `Retry-After`; doubled on
/// each further attempt.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The time allowed for a whole call, retries and waits included.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    started: Instant,
    total: Duration,
}

impl Budget {
    pub fn new(total: Duration) -> Self {
        Budget {
            started: Instant::now(),
            total,
        }
    }

    fn remaining(&self) -> Duration {
        self.total.saturating_sub(self.started.elapsed())
    }

    fn total_ms(&self) -> u128 {
        self.total.as_millis()
    }
}

/// How a Web API method is sent: `GET` with the arguments in the query, or `POST` with them
/// as a form (`application/x-www-form-urlencoded`), which every method accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
}

/// One Web API method call.
#[derive(Debug, Clone)]
pub(crate) struct MethodCall {
    pub method: &'static str,
    pub verb: Verb,
    pub args: Vec<(&'static str, String)>,
}

impl MethodCall {
    pub fn get(method: &'static str) -> Self {
        MethodCall {
            method,
            verb: Verb::Get,
            args: Vec::new(),
        }
    }

    pub fn post(method: &'static str) -> Self {
        MethodCall {
            method,
            verb: Verb::Post,
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.args.push((name, value.into()));
        self
    }

    pub fn optional_arg(self, name: &'static str, value: Option<String>) -> Self {
        match value {
            Some(value) => self.arg(name, value),
            None => self,
        }
    }

    fn encoded_args(&self) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.args {
            form.append_pair(name, value);
        }
        form.finish()
    }

    /// Builds the request, without its timeout.
    fn request(&self, api: WebApi<'_>) -> Request {
        let url = api.url(self.method);
        let request = match self.verb {
            Verb::Get if self.args.is_empty() => Request::get(&url),
            Verb::Get => Request::get(&format!("{url}?{}", self.encoded_args())),
            Verb::Post => Request::post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(self.encoded_args().into_bytes()),
        };
        request.bearer(api.token)
    }
}

/// A failure that Slack reported, by HTTP status or by `ok: false`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SlackError {
    /// What was called: a method name such as `chat.postMessage`, or `the incoming webhook`.
    pub target: String,
    /// HTTP status of the response, which is 200 for most `ok: false` responses.
    pub status: u16,
    /// Slack's error code, such as `channel_not_found`, when the answer names one.
    pub code: Option<String>,
    /// The `Retry-After` of the answer.
    pub retry_after: Option<Duration>,
    /// More that the answer says: missing scopes, Block Kit messages or an unexpected body.
    pub detail: Option<String>,
    /// Why a rate-limited request was not retried, added to the message.
    pub gave_up: Option<String>,
}

impl SlackError {
    /// Returns whether Slack refused the request for its rate limit, so it did nothing and
    /// the same request may be sent again.
    pub fn is_rate_limited(&self) -> bool {
        self.status == 429 || matches!(self.code.as_deref(), Some("ratelimited" | "rate_limited"))
    }

    /// Returns whether the failure means the credential was refused.
    pub fn is_authentication(&self) -> bool {
        matches!(self.status, 401 | 403)
            || matches!(
                self.code.as_deref(),
                Some(
                    "invalid_auth"
                        | "not_authed"
                        | "account_inactive"
                        | "token_revoked"
                        | "token_expired"
                        | "not_allowed_token_type"
                        | "no_permission"
                        | "org_login_required"
                        | "ekm_access_denied"
                        | "team_access_not_granted"
                        | "invalid_token"
                        | "no_service"
                        | "no_service_id"
                        | "no_team"
                        | "team_disabled"
                        | "no_active_hooks"
                        | "action_prohibited"
                )
            )
    }

    /// The message of the upstream error: the code, what was called, the status, a hint and
    /// the details.
    pub fn message(&self) -> String {
        let code = self.code.as_deref().unwrap_or("");
        let mut message = if self.code.is_some() {
            format!(
                "Slack answered `{code}` to {} (HTTP {})",
                self.target, self.status
            )
        } else {
            format!("Slack answered HTTP {} to {}", self.status, self.target)
        };
        if let Some(hint) = hint(code) {
            message.push_str(": ");
            message.push_str(hint);
        }
        if self.is_rate_limited() {
            match self.retry_after {
                Some(wait) => message.push_str(&format!(
                    "; Retry-After: {} seconds",
                    wait.as_secs_f64().ceil() as u64
                )),
                None => message.push_str("; the answer had no Retry-After"),
            }
        }
        if let Some(detail) = &self.detail {
            message.push_str("; ");
            message.push_str(detail);
        }
        if let Some(gave_up) = &self.gave_up {
            message.push_str(" (");
            message.push_str(gave_up);
            message.push(')');
        }
        message
    }

    pub fn into_error(self) -> Error {
        Error::Upstream {
            status: Some(self.status),
            message: self.message(),
        }
    }
}

/// What to do about a Slack error code.
fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "not_in_channel" => {
            "the bot is not a member of the channel; invite it with /invite, or give it the \
             chat:write.public scope for public channels"
        }
        "channel_not_found" => {
            "the channel does not exist or the token cannot see it; use the channel's ID \
             (C...), and invite the bot to a private channel"
        }
        "invalid_auth" => "Slack does not accept the token; check `bot_token`",
        "not_authed" => "no token reached Slack; check `bot_token`",
        "account_inactive" | "token_revoked" | "token_expired" => {
            "the token was revoked or has expired; install the app again and copy the new token"
        }
        "missing_scope" => "the token lacks a scope this method needs",
        "not_allowed_token_type" => "this method does not accept this kind of token",
        "ratelimited" | "rate_limited" => "Slack rate-limited the request",
        "users_not_found" => "no user has this email address, or the token cannot see them",
        "message_not_found" => "no message with this `ts` is in the channel",
        "cant_update_message" | "cant_delete_message" | "edit_window_closed" => {
            "a bot token may change only the messages its app posted"
        }
        "already_reacted" => "the reaction is already on the message",
        "invalid_name" => "Slack has no emoji of this name",
        "too_many_reactions" => "the message has as many reactions as Slack allows",
        "is_archived" | "channel_is_archived" => "the channel is archived",
        "msg_too_long" => "the text is too long",
        "no_text" | "missing_text_or_fallback_or_attachments" => "give `text` or `blocks`",
        "invalid_blocks" | "invalid_blocks_format" => "`blocks` is not valid Block Kit",
        "invalid_cursor" => "the cursor is not valid, or has expired",
        "invalid_payload" => "the webhook did not accept the message",
        "invalid_token" | "no_service" | "no_service_id" | "no_team" | "team_disabled"
        | "no_active_hooks" | "action_prohibited" => {
            "the webhook URL was revoked or is wrong; copy it again from the app's Incoming \
             Webhooks page"
        }
        _ => return None,
    })
}

/// Reads the `Retry-After` header as seconds, the form Slack sends.
pub(crate) fn retry_after(response: &Response) -> Option<Duration> {
    parse_retry_after(response.header("retry-after"))
}

fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let seconds = value?.trim().parse::<f64>().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(ERROR_BODY_CHARS)
        .collect()
}

/// Turns a Web API answer into its JSON body, or the error it reports. Slack answers most
/// errors with HTTP 200 and `{"ok": false, "error": "<code>"}`; a rate limit comes as 429
/// with `Retry-After`.
pub(crate) fn classify_method(
    method: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<Value, SlackError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let object = parsed.as_ref().and_then(Value::as_object);
    let mut error = SlackError {
        target: method.to_string(),
        status,
        code: None,
        retry_after,
        detail: None,
        gave_up: None,
    };
    let Some(object) = object else {
        if status == 429 {
            error.code = Some("ratelimited".into());
        } else if status < 400 {
            error.detail = Some(format!(
                "the answer is not a JSON object: {}",
                excerpt(body)
            ));
        } else if !body.is_empty() {
            error.detail = Some(excerpt(body));
        }
        return Err(error);
    };
    if status < 400 && object.get("ok") == Some(&Value::Bool(true)) {
        return Ok(parsed.expect("parsed above"));
    }
    error.code = match object.get("error").and_then(Value::as_str) {
        Some(code) => Some(code.to_string()),
        None if status == 429 => Some("ratelimited".into()),
        None => None,
    };
    error.detail = details(object);
    if error.code.is_none() && error.detail.is_none() {
        error.detail = Some(format!("the answer has no `ok: true`: {}", excerpt(body)));
    }
    Err(error)
}

/// Collects what an `ok: false` answer says beyond its code.
fn details(object: &serde_json::Map<String, Value>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(needed) = object.get("needed").and_then(Value::as_str) {
        parts.push(format!("needed scopes: {needed}"));
    }
    if let Some(provided) = object.get("provided").and_then(Value::as_str) {
        parts.push(format!("the token has: {provided}"));
    }
    let messages = object
        .get("response_metadata")
        .and_then(|metadata| metadata.get("messages"))
        .and_then(Value::as_array);
    for message in messages.into_iter().flatten().filter_map(Value::as_str) {
        parts.push(message.to_string());
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Turns an incoming webhook's answer into success or an error. A webhook answers `ok` as
/// text; its errors are a status with the code as text, such as 400 `invalid_payload` or
/// 404 `no_service`.
pub(crate) fn classify_webhook(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), SlackError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    let is_code = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let code = if is_code {
        Some(text)
    } else if status == 429 {
        Some("ratelimited".into())
    } else {
        None
    };
    let detail = (code.is_none() && !body.is_empty()).then(|| excerpt(body));
    Err(SlackError {
        target: "the incoming webhook".into(),
        status,
        code,
        retry_after,
        detail,
        gave_up: None,
    })
}

/// Why a request failed: Slack answered with an error, or the host's fetch failed (DNS,
/// connection, TLS, deadline, outbound policy).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    Slack(SlackError),
    Host(Error),
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Slack(error) => error.into_error(),
            Failure::Host(error) => error,
        }
    }
}

/// Calls a Web API method and returns its body, retrying rate-limited answers.
pub(crate) fn call(
    api: WebApi<'_>,
    call: &MethodCall,
    max_attempts: u32,
    budget: Budget,
) -> Result<Value, Failure> {
    send_with_retries(
        || call.request(api),
        |response| {
            classify_method(
                call.method,
                response.status(),
                retry_after(response),
                response.bytes(),
            )
        },
        max_attempts,
        budget,
    )
}

/// Posts a JSON payload to an incoming webhook, retrying rate-limited answers.
pub(crate) fn post_webhook(
    url: &str,
    payload: &Value,
    max_attempts: u32,
    budget: Budget,
) -> Result<(), Failure> {
    let bytes = serde_json::to_vec(payload).map_err(|error| {
        Failure::Host(Error::Internal(format!(
            "serializing the message failed: {error}"
        )))
    })?;
    send_with_retries(
        || {
            Request::post(url)
                .header("content-type", "application/json")
                .body(bytes.clone())
        },
        |response| classify_webhook(response.status(), retry_after(response), response.bytes()),
        max_attempts,
        budget,
    )
    .map_err(|failure| match failure {
        Failure::Host(error) => Failure::Host(hide_webhook_url(error, url)),
        slack => slack,
    })
}

/// Replaces the webhook URL, whose path is its secret, in the host's error messages, which
/// may quote the URL of a failed request.
fn hide_webhook_url(error: Error, url: &str) -> Error {
    let mut secrets = vec![url.to_string()];
    if let Ok(parsed) = url::Url::parse(url) {
        secrets.push(parsed.as_str().to_string());
        if parsed.path().len() > 1 {
            secrets.push(parsed.path().to_string());
        }
    }
    let hide = |message: String| {
        secrets.iter().fold(message, |message, secret| {
            message.replace(secret.as_str(), "<webhook_url>")
        })
    };
    match error {
        Error::Upstream { status, message } => Error::Upstream {
            status,
            message: hide(message),
        },
        Error::InvalidInput(message) => Error::InvalidInput(hide(message)),
        Error::InvalidConfig(message) => Error::InvalidConfig(hide(message)),
        Error::Denied(message) => Error::Denied(hide(message)),
        Error::TimedOut(message) => Error::TimedOut(hide(message)),
        Error::LimitExceeded(message) => Error::LimitExceeded(hide(message)),
        Error::Internal(message) => Error::Internal(hide(message)),
    }
}

/// Sends the request built by `build` up to `max_attempts` times. Only a rate-limited answer
/// is retried, after the `Retry-After` it names (or 1 s, 2 s, ... without one), and only when
/// that wait ends within the budget: Slack did nothing with such a request, whereas after a
/// 5xx answer or a broken connection a message may have been posted already.
fn send_with_retries<T>(
    build: impl Fn() -> Request,
    classify: impl Fn(&Response) -> Result<T, SlackError>,
    max_attempts: u32,
    budget: Budget,
) -> Result<T, Failure> {
    let mut attempt = 1;
    loop {
        let remaining = budget.remaining();
        if remaining.is_zero() {
            return Err(Failure::Host(Error::TimedOut(format!(
                "the call's time budget of {} ms ran out before attempt {attempt}",
                budget.total_ms()
            ))));
        }
        let timeout = u32::try_from(remaining.as_millis()).unwrap_or(u32::MAX);
        let response = build().timeout_ms(timeout).send().map_err(Failure::Host)?;
        let mut error = match classify(&response) {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if !error.is_rate_limited() {
            return Err(Failure::Slack(error));
        }
        if attempt >= max_attempts {
            error.gave_up = Some(format!(
                "still rate-limited after {attempt} attempt{}",
                if attempt == 1 { "" } else { "s" }
            ));
            return Err(Failure::Slack(error));
        }
        let wait = error
            .retry_after
            .unwrap_or_else(|| FIRST_BACKOFF * 2u32.pow(attempt - 1));
        if wait >= budget.remaining() {
            error.gave_up = Some(format!(
                "not retried: the wait would end after the call's time budget of {} ms",
                budget.total_ms()
            ));
            return Err(Failure::Slack(error));
        }
        log::info(&format!(
            "Slack rate-limited {}; retrying in {} ms (attempt {} of {max_attempts})",
            error.target,
            wait.as_millis(),
            attempt + 1
        ));
        std::thread::sleep(wait);
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::json;

    use super::*;

    fn body(value: Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    #[test]
    fn ok_answer_is_returned() {
        let answer = json!({"ok": true, "channel": "C1", "ts": "1.2"});

        let value = classify_method("chat.postMessage", 200, None, &body(answer.clone())).unwrap();

        assert_eq!(value, answer);
    }

    #[test]
    fn ok_false_carries_code_status_and_hint() {
        let error = classify_method(
            "chat.postMessage",
            200,
            None,
            &body(json!({"ok": false, "error": "not_in_channel"})),
        )
        .unwrap_err();

        assert_eq!(error.code.as_deref(), Some("not_in_channel"));
        assert!(!error.is_rate_limited());
        let Error::Upstream { status, message } = error.into_error() else {
            panic!("expected an upstream error");
        };
        assert_eq!(status, Some(200));
        assert!(
            message.starts_with("Slack answered `not_in_channel` to chat.postMessage (HTTP 200)"),
            "{message}"
        );
        assert!(message.contains("/invite"), "{message}");
    }

    #[test]
    fn missing_scope_names_the_scopes() {
        let error = classify_method(
            "users.lookupByEmail",
            200,
            None,
            &body(json!({"ok": false, "error": "missing_scope",
                         "needed": "users:read.email", "provided": "chat:write"})),
        )
        .unwrap_err();

        let message = error.message();
        assert!(
            message.contains("needed scopes: users:read.email"),
            "{message}"
        );
        assert!(message.contains("the token has: chat:write"), "{message}");
    }

    #[test]
    fn invalid_blocks_keeps_slacks_messages() {
        let error = classify_method(
            "chat.postMessage",
            200,
            None,
            &body(json!({"ok": false, "error": "invalid_blocks",
                         "response_metadata": {"messages": ["[ERROR] missing required field: text [json-pointer:/blocks/0/text]"]}})),
        )
        .unwrap_err();

        assert!(
            error.message().contains("json-pointer:/blocks/0/text"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn http_429_is_ratelimited_with_retry_after() {
        let error = classify_method(
            "conversations.list",
            429,
            parse_retry_after(Some("30")),
            &body(json!({"ok": false, "error": "ratelimited"})),
        )
        .unwrap_err();
        let bare = classify_method("conversations.list", 429, None, b"").unwrap_err();

        assert!(error.is_rate_limited());
        assert_eq!(error.retry_after, Some(Duration::from_secs(30)));
        assert!(
            error.message().contains("Retry-After: 30 seconds"),
            "{}",
            error.message()
        );
        assert_eq!(bare.code.as_deref(), Some("ratelimited"));
        assert!(bare.is_rate_limited());
    }

    #[test]
    fn ok_false_ratelimited_with_200_is_rate_limited() {
        let error = classify_method(
            "chat.postMessage",
            200,
            None,
            &body(json!({"ok": false, "error": "ratelimited"})),
        )
        .unwrap_err();

        assert!(error.is_rate_limited());
    }

    #[test]
    fn authentication_codes_are_recognised() {
        for code in ["invalid_auth", "not_authed", "token_revoked"] {
            let error = classify_method(
                "auth.test",
                200,
                None,
                &body(json!({"ok": false, "error": code})),
            )
            .unwrap_err();
            assert!(error.is_authentication(), "{code}");
        }
        let other = classify_method(
            "auth.test",
            200,
            None,
            &body(json!({"ok": false, "error": "fatal_error"})),
        )
        .unwrap_err();
        assert!(!other.is_authentication());
    }

    #[test]
    fn non_json_answers_are_errors() {
        let html = classify_method("auth.test", 200, None, b"<html>proxy</html>").unwrap_err();
        let gateway = classify_method("auth.test", 502, None, b"Bad Gateway").unwrap_err();

        assert_eq!(html.code, None);
        assert!(
            html.message().contains("not a JSON object"),
            "{}",
            html.message()
        );
        assert_eq!(gateway.status, 502);
        assert!(
            gateway
                .message()
                .starts_with("Slack answered HTTP 502 to auth.test; Bad Gateway"),
            "{}",
            gateway.message()
        );
    }

    #[test]
    fn webhook_answers() {
        assert!(classify_webhook(200, None, b"ok").is_ok());
        let payload = classify_webhook(400, None, b"invalid_payload").unwrap_err();
        let revoked = classify_webhook(403, None, b"invalid_token").unwrap_err();
        let limited = classify_webhook(429, parse_retry_after(Some("2")), b"").unwrap_err();

        assert_eq!(payload.code.as_deref(), Some("invalid_payload"));
        assert!(
            payload
                .message()
                .starts_with("Slack answered `invalid_payload` to the incoming webhook (HTTP 400)"),
            "{}",
            payload.message()
        );
        assert!(revoked.is_authentication());
        assert!(limited.is_rate_limited());
        assert_eq!(limited.retry_after, Some(Duration::from_secs(2)));
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(parse_retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(Some("soon")), None);
        assert_eq!(parse_retry_after(Some("-1")), None);
        assert_eq!(parse_retry_after(None), None);
    }

    #[test]
    fn webhook_url_is_hidden_in_host_messages() {
        let url = "https://hooks.slack.com/services/T0/B0/s3cret";
        let error = Error::Upstream {
            status: None,
            message: format!("connecting failed: error sending request for url ({url}/)"),
        };

        let hidden = hide_webhook_url(error, url);

        let Error::Upstream { message, .. } = hidden else {
            panic!("the kind changed");
        };
        assert!(message.starts_with("connecting failed: "), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn post_arguments_are_form_encoded() {
        let call = MethodCall::post("chat.postMessage")
            .arg("channel", "C1")
            .arg("text", "a & b = ü")
            .optional_arg("thread_ts", None);

        assert_eq!(call.encoded_args(), "channel=C1&text=a+%26+b+%3D+%C3%BC");
    }
}
