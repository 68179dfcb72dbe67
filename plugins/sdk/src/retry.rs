//! Sending a request with bounded retries of 429 and 5xx responses, honouring `Retry-After`
//! within the call's time budget.
//!
//! ```ignore
//! use std::time::Duration;
//! use trellis_connector_sdk::http::Request;
//! use trellis_connector_sdk::retry::{self, Budget};
//!
//! let budget = Budget::new(Duration::from_secs(30));
//! let response = retry::send(|| Request::get("https://api.example.com/items"), 3, budget)?;
//! ```

use std::time::{Duration, Instant, SystemTime};

use crate::http::{Request, Response};
use crate::{log, Error};

/// First backoff when the API gives no `Retry-After`; doubled on each further attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The time allowed for a whole call, retries and waits included.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
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
}

/// Sends the request built by `build` up to `max_attempts` times. A 429 or 5xx response is
/// retried after the wait its `retry-after-ms` or `Retry-After` header requests, or after an
/// exponential backoff, unless that wait would end after the budget. Returns the last
/// response, whatever its status; connection failures are not retried because the API may
/// have processed the request.
pub fn send(
    build: impl Fn() -> Request,
    max_attempts: u32,
    budget: Budget,
) -> Result<Response, Error> {
    send_retrying(build, max_attempts, budget, is_retryable)
}

/// Sends like [`send`], retrying only the statuses for which `retryable` returns true, such
/// as 429 alone for a request that must not run twice.
pub fn send_retrying(
    build: impl Fn() -> Request,
    max_attempts: u32,
    budget: Budget,
    retryable: impl Fn(u16) -> bool,
) -> Result<Response, Error> {
    let mut attempt = 1;
    loop {
        let remaining = budget.remaining();
        if remaining.is_zero() {
            return Err(Error::TimedOut(format!(
                "the call's time budget of {} ms ran out before attempt {attempt}",
                budget.total.as_millis()
            )));
        }
        let timeout = u32::try_from(remaining.as_millis()).unwrap_or(u32::MAX);
        let response = build().timeout_ms(timeout).send()?;
        let status = response.status();
        if !retryable(status) || attempt >= max_attempts {
            return Ok(response);
        }

        let wait = retry_wait(&response, SystemTime::now())
            .unwrap_or_else(|| FIRST_BACKOFF * 2u32.pow(attempt - 1));
        if wait >= budget.remaining() {
            log::warn(&format!(
                "not retrying the {status} response: the API asked to wait {} ms, past the \
                 call's time budget",
                wait.as_millis()
            ));
            return Ok(response);
        }
        log::info(&format!(
            "the API returned {status}; retrying in {} ms (attempt {} of {max_attempts})",
            wait.as_millis(),
            attempt + 1
        ));
        std::thread::sleep(wait);
        attempt += 1;
    }
}

/// Returns whether a status means the same request may succeed later.
pub fn is_retryable(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// Returns the wait a response requests: `retry-after-ms` (sent by OpenAI and Azure OpenAI),
/// else `Retry-After` as seconds or an HTTP date (RFC 9110, section 10.2.3).
pub fn retry_wait(response: &Response, now: SystemTime) -> Option<Duration> {
    parse_wait(
        response.header("retry-after-ms"),
        response.header("retry-after"),
        now,
    )
}

fn parse_wait(
    retry_after_ms: Option<&str>,
    retry_after: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    if let Some(milliseconds) = retry_after_ms.and_then(|text| text.trim().parse::<f64>().ok()) {
        if milliseconds.is_finite() && milliseconds >= 0.0 {
            return Some(Duration::from_secs_f64(milliseconds / 1000.0));
        }
    }
    let value = retry_after?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds() {
        let wait = parse_wait(None, Some("2"), SystemTime::now());

        assert_eq!(wait, Some(Duration::from_secs(2)));
    }

    #[test]
    fn retry_after_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();

        let wait = parse_wait(None, Some("Sun, 06 Nov 1994 08:49:40 GMT"), now);
        let past = parse_wait(None, Some("Sun, 06 Nov 1994 08:49:30 GMT"), now);

        assert_eq!(wait, Some(Duration::from_secs(3)));
        assert_eq!(past, Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_ms_preferred() {
        let wait = parse_wait(Some("150"), Some("9"), SystemTime::now());

        assert_eq!(wait, Some(Duration::from_millis(150)));
    }

    #[test]
    fn retry_after_garbage_ignored() {
        assert_eq!(parse_wait(None, Some("soon"), SystemTime::now()), None);
        assert_eq!(parse_wait(Some("-5"), None, SystemTime::now()), None);
    }

    #[test]
    fn retryable_statuses() {
        assert!(is_retryable(429));
        assert!(is_retryable(503));
        assert!(!is_retryable(400));
        assert!(!is_retryable(401));
    }
}
