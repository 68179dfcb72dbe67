//! Built-in connector for Slack: post, update and delete messages, add reactions, list
//! channels and look up users through the Web API with a bot token, or post messages through
//! an incoming webhook.

mod api;
mod config;
mod input;

use std::time::Duration;

use trellis_connector_sdk::{export_connector, json, Connector, Error, Json, Manifest, Operation};
use trellis_connector_sdk::{serde_json, Value};

use crate::api::{Budget, Failure, MethodCall};
use crate::config::Config;

struct Slack;

/// Time allowed for a whole call, retries included, when the input sets no `timeout_ms`. It
/// matches the default action timeout.
// TODO: the guest cannot read the host's call deadline, so a budget longer than the action's
// timeout ends with the host's deadline error instead of Slack's last response.
const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// Time allowed for each request of the connection test.
const CONNECTION_TEST_TIMEOUT_MS: u64 = 10_000;

/// Channels requested per `conversations.list` page, and the most Slack allows.
const DEFAULT_PAGE_SIZE: u32 = 200;
const MAX_PAGE_SIZE: u32 = 1_000;
/// Pages `list_channels` follows when the input sets no `max_pages`, and the most it may set.
const DEFAULT_MAX_PAGES: u32 = 10;
const MAX_MAX_PAGES: u32 = 50;

/// Conversation types of `conversations.list`.
const CHANNEL_TYPES: &[&str] = &["public_channel", "private_channel", "mpim", "im"];

/// Connection steps, each named by the prefix of the host's message.
const CONNECTION_STEPS: &[(&str, &str)] = &[
    ("DNS lookup failed", "DNS"),
    ("connecting failed", "connect"),
    ("TLS handshake failed", "TLS"),
];

/// Webhook responses to an empty payload that show the webhook exists: it rejected the payload,
/// not the URL.
const WEBHOOK_ALIVE_CODES: &[&str] = &[
    "no_text",
    "invalid_payload",
    "missing_text_or_fallback_or_attachments",
];

impl Connector for Slack {
    fn manifest() -> Manifest {
        Manifest::new("slack", "Slack", env!("CARGO_PKG_VERSION"))
            .description(
                "Post, update and delete Slack messages, add reactions, list channels and look \
                 up users by email with a bot token, or post messages through an incoming \
                 webhook.",
            )
            .config_schema(config_schema())
            .base_url_field("base_url")
            .base_url_field("webhook_url")
            .secret_field("bot_token")
            .secret_field("webhook_url")
            .operation(
                Operation::new("post_message", post_message_schema()).description(
                    "Posts a message to a channel or thread (chat.postMessage), or through the \
                     incoming webhook",
                ),
            )
            .operation(
                Operation::new("update_message", update_message_schema())
                    .description("Replaces the text or blocks of a message (chat.update)"),
            )
            .operation(
                Operation::new("delete_message", delete_message_schema())
                    .description("Deletes a message (chat.delete)"),
            )
            .operation(
                Operation::new("list_channels", list_channels_schema())
                    .description(
                        "Lists channels, following Slack's cursor up to a page limit \
                         (conversations.list)",
                    )
                    .read_only(),
            )
            .operation(
                Operation::new("lookup_user_by_email", lookup_user_schema())
                    .description("Finds a user by email address (users.lookupByEmail)")
                    .read_only(),
            )
            .operation(
                Operation::new("add_reaction", add_reaction_schema())
                    .description("Adds an emoji reaction to a message (reactions.add)"),
            )
    }

    fn test_connection(config: Json) -> Result<(), Error> {
        let config = Config::from_json(&config)?;
        if config.has_bot_token() {
            test_bot_token(&config)?;
        }
        if let Some(url) = config.webhook_url() {
            test_webhook(url)?;
        }
        Ok(())
    }

    fn execute(config: Json, operation: &str, input: Json) -> Result<Value, Error> {
        let config = Config::from_json(&config)?;
        let budget = Budget::new(Duration::from_millis(input::timeout_ms(
            &input,
            DEFAULT_TIMEOUT_MS,
        )?));
        match operation {
            "post_message" => post_message(&config, &input, budget),
            "update_message" => update_message(&config, &input, budget),
            "delete_message" => delete_message(&config, &input, budget),
            "list_channels" => list_channels(&config, &input, budget),
            "lookup_user_by_email" => lookup_user_by_email(&config, &input, budget),
            "add_reaction" => add_reaction(&config, &input, budget),
            other => Err(Error::unknown_operation(other)),
        }
    }
}

/// Calls `auth.test` with the bot token.
fn test_bot_token(config: &Config) -> Result<(), Error> {
    let api = config.web_api("test_connection")?;
    let call = MethodCall::get("auth.test");
    let budget = Budget::new(Duration::from_millis(CONNECTION_TEST_TIMEOUT_MS));
    match api::call(api, &call, 1, budget) {
        Ok(_) => Ok(()),
        Err(failure) => Err(connection_step_error(failure)),
    }
}

/// Posts an empty payload to the webhook. Slack refuses it without posting anything: with
/// 400 `no_text` from a live webhook, or with 403 or 404 from a revoked or wrong URL.
fn test_webhook(url: &str) -> Result<(), Error> {
    let budget = Budget::new(Duration::from_millis(CONNECTION_TEST_TIMEOUT_MS));
    match api::post_webhook(url, &json!({}), 1, budget) {
        Ok(()) => Ok(()),
        Err(Failure::Slack(error))
            if error.status == 400
                && error
                    .code
                    .as_deref()
                    .is_some_and(|code| WEBHOOK_ALIVE_CODES.contains(&code)) =>
        {
            Ok(())
        }
        Err(failure) => Err(connection_step_error(failure)),
    }
}

/// Names the step of a failed connection test: DNS, connect or TLS from the host's message,
/// authentication when Slack refused the credential, else request.
fn connection_step_error(failure: Failure) -> Error {
    let (step, status, message) = match failure {
        Failure::Slack(error) => {
            let step = if error.is_authentication() {
                "authentication"
            } else {
                "request"
            };
            (step, Some(error.status), error.message())
        }
        Failure::Host(Error::Upstream { status, message }) => {
            let step = CONNECTION_STEPS
                .iter()
                .find(|(prefix, _)| message.starts_with(prefix))
                .map_or("request", |(_, step)| step);
            (step, status, message)
        }
        Failure::Host(other) => return other,
    };
    Error::Upstream {
        status,
        message: format!("the connection test failed at the {step} step: {message}"),
    }
}

/// Where `post_message` sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Api,
    Webhook,
}

fn post_message(config: &Config, input: &Json, budget: Budget) -> Result<Value, Error> {
    input::only_fields(
        input,
        "post_message",
        &[
            "channel",
            "text",
            "blocks",
            "thread_ts",
            "reply_broadcast",
            "unfurl_links",
            "unfurl_media",
            "via",
            "timeout_ms",
        ],
    )?;
    let via = match input::optional_text(input, "via")?.as_deref() {
        Some("api") => Via::Api,
        Some("webhook") => Via::Webhook,
        None if config.has_bot_token() => Via::Api,
        None => Via::Webhook,
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "the field `via` must be `api` or `webhook`, not `{other}`"
            )))
        }
    };
    let text = input::optional_text(input, "text")?;
    let blocks = input::blocks(input)?;
    if text.is_none() && blocks.as_ref().is_none_or(Vec::is_empty) {
        return Err(Error::InvalidInput(
            "give `text`, `blocks` or both; with blocks, `text` is the notification's fallback"
                .into(),
        ));
    }
    let thread_ts = input::optional_timestamp(input, "thread_ts")?;
    let unfurl_links: Option<bool> = input.optional("unfurl_links")?;
    let unfurl_media: Option<bool> = input.optional("unfurl_media")?;
    let reply_broadcast: Option<bool> = input.optional("reply_broadcast")?;

    if via == Via::Webhook {
        let url = config.webhook_url().ok_or_else(|| {
            Error::InvalidConfig(
                "`via: webhook` needs `webhook_url`, an incoming-webhook URL, in the resource"
                    .into(),
            )
        })?;
        for field in ["channel", "reply_broadcast"] {
            if !input.value().get(field).unwrap_or(&Value::Null).is_null() {
                return Err(Error::InvalidInput(format!(
                    "an incoming webhook takes no `{field}`: it posts to the channel chosen \
                     when it was created; send through the Web API (`via: api`, with \
                     `bot_token`) to choose"
                )));
            }
        }
        let mut payload = serde_json::Map::new();
        let fields = [
            ("text", text.map(Value::String)),
            ("blocks", blocks.map(Value::Array)),
            ("thread_ts", thread_ts.map(Value::String)),
            ("unfurl_links", unfurl_links.map(Value::Bool)),
            ("unfurl_media", unfurl_media.map(Value::Bool)),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                payload.insert(name.into(), value);
            }
        }
        api::post_webhook(url, &Value::Object(payload), config.max_attempts, budget)?;
        return Ok(json!({ "ok": true, "via": "webhook" }));
    }

    if !config.has_bot_token() {
        return Err(Error::InvalidConfig(
            "`via: api` needs a bot token (`bot_token`); this resource has only an \
             incoming-webhook URL, so leave `via` out or set it to `webhook`"
                .into(),
        ));
    }
    let api = config.web_api("post_message")?;
    let channel = input::required_text(input, "channel")?;
    let call = MethodCall::post("chat.postMessage")
        .arg("channel", channel)
        .optional_arg("text", text)
        .optional_arg(
            "blocks",
            blocks.map(|blocks| Value::Array(blocks).to_string()),
        )
        .optional_arg("thread_ts", thread_ts)
        .optional_arg("reply_broadcast", reply_broadcast.map(|b| b.to_string()))
        .optional_arg("unfurl_links", unfurl_links.map(|b| b.to_string()))
        .optional_arg("unfurl_media", unfurl_media.map(|b| b.to_string()));
    Ok(api::call(api, &call, config.max_attempts, budget)?)
}

fn update_message(config: &Config, input: &Json, budget: Budget) -> Result<Value, Error> {
    input::only_fields(
        input,
        "update_message",
        &["channel", "ts", "text", "blocks", "timeout_ms"],
    )?;
    let api = config.web_api("update_message")?;
    let channel = input::required_text(input, "channel")?;
    let ts = input::timestamp(input, "ts")?;
    let text = input::optional_text(input, "text")?;
    let blocks = input::blocks(input)?;
    if text.is_none() && blocks.is_none() {
        return Err(Error::InvalidInput(
            "give `text`, `blocks` or both; `blocks: []` removes the message's blocks".into(),
        ));
    }
    let call = MethodCall::post("chat.update")
        .arg("channel", channel)
        .arg("ts", ts)
        .optional_arg("text", text)
        .optional_arg(
            "blocks",
            blocks.map(|blocks| Value::Array(blocks).to_string()),
        );
    Ok(api::call(api, &call, config.max_attempts, budget)?)
}

fn delete_message(config: &Config, input: &Json, budget: Budget) -> Result<Value, Error> {
    input::only_fields(input, "delete_message", &["channel", "ts", "timeout_ms"])?;
    let api = config.web_api("delete_message")?;
    let call = MethodCall::post("chat.delete")
        .arg("channel", input::required_text(input, "channel")?)
        .arg("ts", input::timestamp(input, "ts")?);
    Ok(api::call(api, &call, config.max_attempts, budget)?)
}

fn add_reaction(config: &Config, input: &Json, budget: Budget) -> Result<Value, Error> {
    input::only_fields(
        input,
        "add_reaction",
        &["channel", "ts", "name", "timeout_ms"],
    )?;
    let api = config.web_api("add_reaction")?;
    let name = input::required_text(input, "name")?;
    // `:thumbsup:` and `thumbsup` name the same emoji; Slack wants the name alone.
    let name = name.trim_matches(':').to_string();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(Error::InvalidInput(
            "the field `name` must be an emoji name such as `thumbsup`".into(),
        ));
    }
    let call = MethodCall::post("reactions.add")
        .arg("channel", input::required_text(input, "channel")?)
        .arg("timestamp", input::timestamp(input, "ts")?)
        .arg("name", name);
    Ok(api::call(api, &call, config.max_attempts, budget)?)
}

fn lookup_user_by_email(config: &Config, input: &Json, budget: Budget) -> Result<Value, Error> {
    input::only_fields(input, "lookup_user_by_email", &["email", "timeout_ms"])?;
    let api = config.web_api("lookup_user_by_email")?;
    let email = input::required_text(input, "email")?;
    if !email.contains('@') || email.contains(char::is_whitespace) {
        return Err(Error::InvalidInput(
            "the field `email` must be an email address".into(),
        ));
    }
    let call = MethodCall::get("users.lookupByEmail").arg("email", email);
    Ok(api::call(api, &call, config.max_attempts, budget)?)
}

fn list_channels(config: &Config, input: &Json, budget: Budget) -> Result<Value, Error> {
    input::only_fields(
        input,
        "list_channels",
        &[
            "types",
            "exclude_archived",
            "page_size",
            "max_pages",
            "cursor",
            "timeout_ms",
        ],
    )?;
    let api = config.web_api("list_channels")?;
    let types = channel_types(input)?;
    let exclude_archived: Option<bool> = input.optional("exclude_archived")?;
    let page_size = input::bounded(input, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?;
    let max_pages = input::bounded(input, "max_pages", DEFAULT_MAX_PAGES, 1, MAX_MAX_PAGES)?;
    let mut cursor = input::optional_text(input, "cursor")?;

    let mut channels = Vec::new();
    let mut pages = 0;
    let next_cursor = loop {
        let call = MethodCall::get("conversations.list")
            .arg("limit", page_size.to_string())
            .optional_arg("types", types.clone())
            .optional_arg("exclude_archived", exclude_archived.map(|b| b.to_string()))
            .optional_arg("cursor", cursor.take());
        let mut page = api::call(api, &call, config.max_attempts, budget)?;
        pages += 1;
        match page.get_mut("channels").map(Value::take) {
            Some(Value::Array(items)) => channels.extend(items),
            _ => {
                return Err(Error::Upstream {
                    status: Some(200),
                    message: "Slack's conversations.list response has no `channels` list".into(),
                })
            }
        }
        let next = page
            .pointer("/response_metadata/next_cursor")
            .and_then(Value::as_str)
            .filter(|next| !next.is_empty())
            .map(str::to_string);
        match next {
            Some(next) if pages < max_pages => cursor = Some(next),
            other => break other,
        }
    };
    Ok(json!({
        "channels": channels,
        "count": channels.len(),
        "pages": pages,
        "next_cursor": next_cursor,
        "truncated": next_cursor.is_some(),
    }))
}

/// `types` as a list or as Slack's comma-separated text, checked and joined with commas.
fn channel_types(input: &Json) -> Result<Option<String>, Error> {
    let names: Vec<String> = match input.value().get("types") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text.split(',').map(|name| name.trim().into()).collect(),
        Some(_) => input.field::<Vec<String>>("types")?,
    };
    let names: Vec<String> = names.into_iter().filter(|name| !name.is_empty()).collect();
    if let Some(unknown) = names
        .iter()
        .find(|name| !CHANNEL_TYPES.contains(&name.as_str()))
    {
        return Err(Error::InvalidInput(format!(
            "the field `types` may hold public_channel, private_channel, mpim and im, not \
             `{unknown}`"
        )));
    }
    Ok((!names.is_empty()).then(|| names.join(",")))
}

fn timeout_schema() -> Value {
    json!({
        "type": "integer", "minimum": 1, "default": DEFAULT_TIMEOUT_MS,
        "description": "Time allowed for the call, waits for rate limits included"
    })
}

fn timestamp_schema(description: &str) -> Value {
    json!({
        "type": "string", "pattern": "^[0-9]+\\.[0-9]+$",
        "examples": ["1503435956.000247"],
        "description": description
    })
}

fn blocks_schema() -> Value {
    json!({
        "oneOf": [
            { "type": "array", "items": { "type": "object" } },
            { "type": "string" }
        ],
        "description": "Block Kit blocks, as a list or as its JSON text"
    })
}

fn channel_schema() -> Value {
    json!({
        "type": "string", "minLength": 1,
        "description": "Channel ID such as C0123456789 (a name such as #general works for posting)"
    })
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "anyOf": [
            { "required": ["bot_token"] },
            { "required": ["webhook_url"] }
        ],
        "dependentRequired": { "bot_token": ["base_url"] },
        "properties": {
            "base_url": {
                "type": "string", "format": "uri",
                "default": config::DEFAULT_BASE_URL,
                "examples": [config::DEFAULT_BASE_URL],
                "description": "Web API root; required with `bot_token`"
            },
            "bot_token": {
                "type": "string", "x-secret": true,
                "description": "Bot token (xoxb-...), sent as `Authorization: Bearer`; needed \
                                for every operation but posting through a webhook"
            },
            "webhook_url": {
                "type": "string", "format": "uri", "x-secret": true,
                "examples": ["https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"],
                "description": "Incoming-webhook URL; it can only post messages, to the channel \
                                chosen when it was created"
            },
            "max_attempts": {
                "type": "integer", "minimum": 1, "maximum": config::MAX_MAX_ATTEMPTS,
                "default": config::DEFAULT_MAX_ATTEMPTS,
                "description": "Attempts per request while Slack answers `ratelimited`"
            }
        }
    })
}

fn post_message_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "channel": channel_schema(),
            "text": {
                "type": "string",
                "description": "Message text in mrkdwn; the notification fallback when `blocks` is set"
            },
            "blocks": blocks_schema(),
            "thread_ts": timestamp_schema("`ts` of the parent message, to reply in its thread"),
            "reply_broadcast": {
                "type": "boolean",
                "description": "Also show the thread reply in the channel (Web API only)"
            },
            "unfurl_links": { "type": "boolean" },
            "unfurl_media": { "type": "boolean" },
            "via": {
                "enum": ["api", "webhook"],
                "description": "Send with chat.postMessage (`api`, the default with a bot token) \
                                or the incoming webhook (`webhook`, the default without one)"
            },
            "timeout_ms": timeout_schema()
        }
    })
}

fn update_message_schema() -> Value {
    json!({
        "type": "object",
        "required": ["channel", "ts"],
        "additionalProperties": false,
        "properties": {
            "channel": channel_schema(),
            "ts": timestamp_schema("`ts` of the message to update"),
            "text": { "type": "string" },
            "blocks": blocks_schema(),
            "timeout_ms": timeout_schema()
        }
    })
}

fn delete_message_schema() -> Value {
    json!({
        "type": "object",
        "required": ["channel", "ts"],
        "additionalProperties": false,
        "properties": {
            "channel": channel_schema(),
            "ts": timestamp_schema("`ts` of the message to delete"),
            "timeout_ms": timeout_schema()
        }
    })
}

fn list_channels_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "types": {
                "oneOf": [
                    { "type": "array", "items": { "enum": CHANNEL_TYPES } },
                    { "type": "string" }
                ],
                "description": "Conversation types, as a list or comma-separated; Slack's \
                                default is public_channel"
            },
            "exclude_archived": { "type": "boolean", "description": "Leave archived channels out" },
            "page_size": {
                "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                "default": DEFAULT_PAGE_SIZE,
                "description": "Channels asked for per page (Slack's `limit`)"
            },
            "max_pages": {
                "type": "integer", "minimum": 1, "maximum": MAX_MAX_PAGES,
                "default": DEFAULT_MAX_PAGES,
                "description": "Pages followed at most; the output's `next_cursor` continues"
            },
            "cursor": {
                "type": "string",
                "description": "`next_cursor` of an earlier call, to continue after it"
            },
            "timeout_ms": timeout_schema()
        }
    })
}

fn lookup_user_schema() -> Value {
    json!({
        "type": "object",
        "required": ["email"],
        "additionalProperties": false,
        "properties": {
            "email": { "type": "string", "format": "email" },
            "timeout_ms": timeout_schema()
        }
    })
}

fn add_reaction_schema() -> Value {
    json!({
        "type": "object",
        "required": ["channel", "ts", "name"],
        "additionalProperties": false,
        "properties": {
            "channel": channel_schema(),
            "ts": timestamp_schema("`ts` of the message to react to"),
            "name": {
                "type": "string", "minLength": 1,
                "description": "Emoji name such as `thumbsup`, with or without colons"
            },
            "timeout_ms": timeout_schema()
        }
    })
}

export_connector!(Slack);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SlackError;

    fn slack(status: u16, code: Option<&str>) -> Failure {
        Failure::Slack(SlackError {
            target: "auth.test".into(),
            status,
            code: code.map(str::to_string),
            retry_after: None,
            detail: None,
            gave_up: None,
        })
    }

    fn host(message: &str) -> Failure {
        Failure::Host(Error::Upstream {
            status: None,
            message: message.into(),
        })
    }

    fn step(failure: Failure) -> String {
        match connection_step_error(failure) {
            Error::Upstream { message, .. } => message,
            other => panic!("expected an upstream error, got {other:?}"),
        }
    }

    #[test]
    fn connection_steps_are_named() {
        assert!(step(host("DNS lookup failed: resolving x failed")).contains("at the DNS step"));
        assert!(step(host("connecting failed: refused")).contains("at the connect step"));
        assert!(step(host("TLS handshake failed: bad cert")).contains("at the TLS step"));
        assert!(step(host("connection reset")).contains("at the request step"));
        let auth = step(slack(200, Some("invalid_auth")));
        assert!(
            auth.starts_with("the connection test failed at the authentication step: Slack answered `invalid_auth` to auth.test"),
            "{auth}"
        );
        assert!(step(slack(401, None)).contains("at the authentication step"));
        assert!(step(slack(200, Some("fatal_error"))).contains("at the request step"));
        assert!(step(slack(502, None)).contains("at the request step"));
    }

    #[test]
    fn other_errors_keep_their_kind() {
        let timed_out = connection_step_error(Failure::Host(Error::TimedOut("slow".into())));

        assert_eq!(timed_out, Error::TimedOut("slow".into()));
    }

    #[test]
    fn channel_types_as_list_or_text() {
        let list = Json::input(json!({"types": ["public_channel", "private_channel"]}));
        let text = Json::input(json!({"types": "public_channel, im"}));
        let wrong = Json::input(json!({"types": ["channels"]}));

        assert_eq!(
            channel_types(&list).unwrap().as_deref(),
            Some("public_channel,private_channel")
        );
        assert_eq!(
            channel_types(&text).unwrap().as_deref(),
            Some("public_channel,im")
        );
        assert!(matches!(
            channel_types(&wrong),
            Err(Error::InvalidInput(message)) if message.contains("`channels`")
        ));
    }
}
