//! Posting an upload body to the image endpoint, with a few quick retries, and telling the
//! cloud's answer apart from a failure to reach it.

use std::error::Error as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Request};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value};

use crate::error::{ErrCode, Error, Result};

/// Pauses before the second and third attempt of a call, after a failure that came at once
/// (connection refused or reset, HTTP 5xx). A timeout is never retried within a call: the
/// caller has already waited long enough.
const QUICK_RETRIES: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(500)];

/// No attempt starts with less time than this left: it could not finish.
const SHORTEST_ATTEMPT: Duration = Duration::from_millis(100);

/// How long an unused connection stays open for the next image.
const IDLE_CONNECTION: Duration = Duration::from_secs(60);

/// What came back from a post.
#[derive(Debug)]
pub enum Posted {
    /// The cloud answered with its JSON result (`state` 1 or 0).
    Answer(Map<String, Value>),
    /// The cloud could not be reached, or did not answer with its JSON result. The error's code
    /// is NETWORK, TIMEOUT or HTTP.
    Failed(Error),
}

/// The HTTP client of one SDK, built at the first image and shared by every thread after that,
/// so that connections are kept and reused. Thread-safe.
pub struct Poster {
    connect_timeout: Duration,
    client: Mutex<Option<Client>>,
}

impl Poster {
    /// A poster whose connections give up after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Poster {
        Poster {
            connect_timeout,
            client: Mutex::new(None),
        }
    }

    /// The HTTP client (blocking, rustls), built on first use. Cloning it is cheap and shares
    /// its connection pool. Fails with INTERNAL when the TLS backend cannot start.
    ///
    /// Must not be called from inside an async runtime (the blocking client runs its own).
    pub fn client(&self) -> Result<Client> {
        let mut slot = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = Client::builder()
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(IDLE_CONNECTION)
            .user_agent(concat!("bolink/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::new(
                    ErrCode::Internal,
                    format!("cannot start the HTTP client for images: {}", chain(&e)),
                )
            })?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Posts `body` (JSON) to `url` and returns the cloud's answer, trying again at once after
    /// a failure that came quickly, as long as `timeout` allows. Blocks the calling thread for
    /// `timeout` at most.
    pub fn post(&self, url: &str, body: String, timeout: Duration) -> Posted {
        let deadline = Instant::now() + timeout;
        let client = match self.client() {
            Ok(client) => client,
            Err(e) => return Posted::Failed(e),
        };
        let request = match client
            .post(url)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/json;charset=UTF-8"),
            )
            .body(body)
            .build()
        {
            Ok(request) => request,
            Err(e) => {
                return Posted::Failed(Error::new(
                    ErrCode::Http,
                    format!("cannot post to the image endpoint {url}: {}", chain(&e)),
                ));
            }
        };

        let mut pauses = QUICK_RETRIES.iter();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // The body is shared between attempts, not copied.
            let Some(mut attempt) = request.try_clone() else {
                return Posted::Failed(Error::new(ErrCode::Internal, "image body not reusable"));
            };
            *attempt.timeout_mut() = Some(left.max(SHORTEST_ATTEMPT));
            let (posted, quick_retry) = once(&client, attempt, url, timeout);
            let Posted::Failed(error) = &posted else {
                return posted;
            };
            let Some(pause) = pauses.next().filter(|_| quick_retry) else {
                return posted;
            };
            if deadline.saturating_duration_since(Instant::now()) < *pause + SHORTEST_ATTEMPT {
                return posted;
            }
            tracing::debug!("image post failed, trying again: {}", error.message);
            std::thread::sleep(*pause);
        }
    }
}

/// One attempt. The flag says whether trying again at once may help.
fn once(client: &Client, request: Request, url: &str, allowed: Duration) -> (Posted, bool) {
    let response = match client.execute(request) {
        Ok(response) => response,
        Err(e) => return transport_failure(&e, url, allowed),
    };
    let status = response.status();
    let text = match response.text() {
        Ok(text) => text,
        Err(e) => return transport_failure(&e, url, allowed),
    };
    if !status.is_success() {
        let retry = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
        return (
            Posted::Failed(Error::new(
                ErrCode::Http,
                format!(
                    "the image endpoint {url} answered HTTP {status}{}",
                    excerpt(&text)
                ),
            )),
            retry,
        );
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(answer)) if answer.contains_key("state") => {
            (Posted::Answer(answer), false)
        }
        _ => (
            Posted::Failed(Error::new(
                ErrCode::Http,
                format!(
                    "the image endpoint {url} answered HTTP {status} without the cloud's JSON \
                     result{}",
                    excerpt(&text)
                ),
            )),
            false,
        ),
    }
}

/// A request that did not get through: TIMEOUT or NETWORK, in words.
fn transport_failure(e: &reqwest::Error, url: &str, allowed: Duration) -> (Posted, bool) {
    let cause = chain(e);
    if e.is_timeout() {
        let error = Error::new(
            ErrCode::Timeout,
            format!(
                "no answer from the image endpoint {url} within {} ms",
                allowed.as_millis()
            ),
        );
        return (Posted::Failed(error), false);
    }
    let error = if e.is_connect() {
        Error::new(
            ErrCode::Network,
            format!("cannot connect to the image endpoint {url}: {cause}"),
        )
    } else {
        Error::new(
            ErrCode::Network,
            format!("the image upload to {url} broke off: {cause}"),
        )
    };
    (Posted::Failed(error), true)
}

/// An error with its causes, innermost last, without repeating the URL reqwest puts first.
fn chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// The start of an unexpected answer, for the error message.
fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let cut: String = text.chars().take(120).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!(": {cut}{more}")
}
