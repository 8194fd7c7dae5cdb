//! Section 2.12: vehicle images, posted over HTTP with the cloud link's token and sign.
//!
//! An upload is checked before anything leaves the machine ([`check`]), signed with the cloud
//! link's current token and key, and posted to the image endpoint; the call answers with the
//! cloud's result. When the cloud cannot be reached (no login yet, network failure, timeout,
//! HTTP error) the image is committed to the outbox under [`LinkId::Images`], the answer says
//! `"queued":true`, and the `bolink-images` thread posts it again once the cloud link is logged
//! in, reporting the cloud's answer to the host's receiver. A refusal by the cloud is answered
//! at once and never kept; neither is an upload that fails the checks.
//!
//! Retry policy: within a call, up to three attempts, 0.2 s and 0.5 s apart, after failures
//! that come at once (connection refused or reset, HTTP 5xx, 408, 429); never after a timeout.
//! The whole call takes at most `sync_timeout_ms` (default 10 s) or the timeout given to
//! `upload_data_sync`. Kept images are posted oldest first, one at a time: right after the
//! cloud link logs in, and after a failure again in 1, 2, 4 ... up to 60 s.

mod body;
mod check;
mod content;
mod post;
mod worker;

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub use body::{data_text, envelope};
pub use check::{BOLINK_MAX_IMAGE_BYTES, Checked, Picture, check};
pub use post::{Posted, Poster};
pub use worker::spawn;

use crate::LinkId;
use crate::client::Shared;
use crate::error::{ErrCode, Error, Result};
use crate::outbox::NewEntry;

/// The service name of image uploads, also used for kept images in the outbox.
pub const SERVICE: &str = "upload_carpic";

/// The fields that say which order or event an image belongs to; answers carry them so the
/// host can tell which image an answer is about.
const KEY_FIELDS: &[&str] = &[
    "order_id",
    "picture_source",
    "park_order_type",
    "liftrod_id",
    "event_id",
    "uuid",
];

/// The image side of one running SDK: the HTTP client and the wake-up of the worker thread.
/// Lives in [`Shared`]; every method may be called from any thread.
pub struct Images {
    poster: Poster,
    woken: Mutex<bool>,
    wake: Condvar,
}

impl Images {
    /// The image state for a configuration; the HTTP client is built at the first image.
    pub fn new(config: &crate::config::Config) -> Images {
        Images {
            poster: Poster::new(config.connect_timeout),
            woken: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// The HTTP client and its connection pool, shared by every upload of this SDK.
    pub fn poster(&self) -> &Poster {
        &self.poster
    }

    /// Tells the worker thread to look again: an image was kept, a link logged in or out, or
    /// the SDK is stopping.
    pub fn wake(&self) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }

    /// Waits until woken or `timeout` has passed.
    fn sleep(&self, timeout: Duration) {
        let woken = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        let (mut woken, _) = self
            .wake
            .wait_timeout_while(woken, timeout, |woken| !*woken)
            .unwrap_or_else(|e| e.into_inner());
        *woken = false;
    }
}

/// Uploads one image and returns the cloud's answer (`state` 1 or 0 with its `errmsg`), or,
/// when the cloud cannot be reached, keeps the image and answers `state` 0 with `"queued":true`
/// and the reason's `errcode` (LINK_DOWN, NETWORK, TIMEOUT or HTTP). Blocks the calling thread
/// for at most `wait`, or `sync_timeout_ms` when `None`.
///
/// Errors: the check's error when the upload is invalid (nothing is sent or kept); LINK_DOWN
/// when the configuration opens no cloud link; the outbox's error when a kept image cannot be
/// stored.
pub fn upload(
    shared: &Shared,
    message: &Map<String, Value>,
    wait: Option<Duration>,
) -> Result<Value> {
    let checked = check(message)?;
    let data = data_text(message, &checked.content);
    let keys = key_fields(message);
    tracing::debug!(
        order_id = order_of(&keys),
        bytes = checked.bytes,
        "image checked"
    );
    drop(checked);

    let Some(link) = shared.link(LinkId::Cloud) else {
        return Err(Error::new(
            ErrCode::LinkDown,
            "images go to the cloud, and this configuration opens no cloud link (`cloud_addr`)",
        ));
    };
    let Some(mut token) = link.token() else {
        let why = Error::new(ErrCode::LinkDown, "the cloud link is not logged in yet");
        return keep(shared, data, keys, why);
    };
    let started = Instant::now();
    let mut allowed = wait.unwrap_or(shared.config.sync_timeout);
    let mut renewed = false;
    loop {
        match post_data(shared, &data, &keys, &token, secret(shared), allowed) {
            Outcome::Accepted(answer) => {
                tracing::info!(order_id = order_of(&keys), "image accepted by the cloud");
                return Ok(Value::Object(answer));
            }
            Outcome::Failed(why) => return keep(shared, data, keys, why),
            Outcome::TokenRefused(refusal) if !renewed => {
                // The link may have logged in again while the image was on its way.
                match link.token() {
                    Some(current) if current != token => {
                        token = current;
                        renewed = true;
                        allowed = allowed.saturating_sub(started.elapsed());
                    }
                    None => {
                        let why = Error::new(
                            ErrCode::LinkDown,
                            "the cloud link lost its login while the image was posted",
                        );
                        return keep(shared, data, keys, why);
                    }
                    Some(_) => return Ok(Value::Object(refusal)),
                }
            }
            Outcome::TokenRefused(refusal) | Outcome::Refused(refusal) => {
                tracing::warn!(order_id = order_of(&keys), "image refused by the cloud");
                return Ok(Value::Object(refusal));
            }
        }
    }
}

/// How one post of an image ended.
#[derive(Debug)]
pub enum Outcome {
    /// The cloud took the image: its answer, unchanged.
    Accepted(Map<String, Value>),
    /// The cloud refused the image: its answer as the host gets it (see [`Outcome::Refused`]),
    /// because it did not know the token. The token may just have been replaced by a new login.
    TokenRefused(Map<String, Value>),
    /// The cloud refused the image: its answer as the host gets it, with `errcode` REFUSED, the
    /// image's key fields the cloud left out, and `detail`, an explanation in English when the
    /// refusal is one the cloud is known to give.
    Refused(Map<String, Value>),
    /// The cloud could not be reached or did not answer with its result: NETWORK, TIMEOUT or
    /// HTTP.
    Failed(Error),
}

/// Signs `data` (the compact JSON of a checked upload, see [`data_text`]) with `secret`, posts
/// it under `token` to the configured image endpoint and says how that ended. `keys` are the
/// image's key fields, added to a refusal. Blocks for `timeout` at most.
pub fn post_data(
    shared: &Shared,
    data: &str,
    keys: &Map<String, Value>,
    token: &str,
    secret: &str,
    timeout: Duration,
) -> Outcome {
    let url = &shared.config.image_url;
    let body = envelope(token, secret, data);
    let answer = match shared.carpic.poster.post(url, body, timeout) {
        Posted::Answer(answer) => answer,
        Posted::Failed(why) => return Outcome::Failed(why),
    };
    if accepted(&answer) {
        return Outcome::Accepted(answer);
    }
    let token_refused = errmsg(&answer).to_ascii_lowercase().contains("token");
    let refusal = refusal(answer, keys, url);
    if token_refused {
        Outcome::TokenRefused(refusal)
    } else {
        Outcome::Refused(refusal)
    }
}

/// The secret that signs the cloud link's messages.
fn secret(shared: &Shared) -> &str {
    shared
        .config
        .cloud
        .as_ref()
        .map_or("", |cloud| cloud.secret.as_str())
}

/// Commits an image to the outbox for the worker and answers that it was kept.
fn keep(shared: &Shared, data: String, keys: Map<String, Value>, why: Error) -> Result<Value> {
    let entry = NewEntry {
        link: LinkId::Images,
        service: SERVICE.to_string(),
        data,
        expects_answer: true,
    };
    if let Err(e) = shared.outbox.push(std::slice::from_ref(&entry)) {
        return Err(Error::new(
            e.code,
            format!(
                "{}, and the image could not be kept: {}",
                why.message, e.message
            ),
        ));
    }
    shared.carpic.wake();
    tracing::warn!(
        order_id = order_of(&keys),
        "image kept to be sent again: {}",
        why.message
    );

    let mut answer = Map::new();
    answer.insert("state".into(), 0.into());
    answer.insert("errcode".into(), (why.code as i32).into());
    answer.insert(
        "errmsg".into(),
        format!("{}; the image is kept and will be sent again", why.message).into(),
    );
    answer.insert("queued".into(), true.into());
    answer.extend(keys);
    Ok(Value::Object(answer))
}

/// Whether the cloud took the image.
fn accepted(answer: &Map<String, Value>) -> bool {
    match answer.get("state") {
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => s == "1",
        _ => false,
    }
}

fn errmsg(answer: &Map<String, Value>) -> &str {
    answer.get("errmsg").and_then(Value::as_str).unwrap_or("")
}

/// The cloud's refusal as the host gets it: the cloud's fields unchanged, `errcode` REFUSED,
/// the image's key fields when the cloud left them out, and `detail`, an explanation in English
/// when the refusal is one the cloud is known to give.
fn refusal(
    mut answer: Map<String, Value>,
    keys: &Map<String, Value>,
    url: &str,
) -> Map<String, Value> {
    let detail = explain(errmsg(&answer), url);
    answer.insert("errcode".into(), (ErrCode::Refused as i32).into());
    for (name, value) in keys {
        if !answer.contains_key(name) {
            answer.insert(name.clone(), value.clone());
        }
    }
    if let Some(detail) = detail {
        answer.insert("detail".into(), detail.into());
    }
    answer
}

/// What a refusal from the cloud means, for the refusals the cloud is known to give.
fn explain(errmsg: &str, url: &str) -> Option<String> {
    let lower = errmsg.to_ascii_lowercase();
    let text = if lower.contains("token") {
        format!(
            "the image endpoint {url} does not know the cloud link's token: check that \
             `image_url` belongs to the same cloud as `cloud_addr` (test or production)"
        )
    } else if errmsg.contains("签名") || lower.contains("sign") {
        "the cloud computed another sign over `data`: the park's key (`ukey`, or `ckey` in the \
         legacy mode) does not match the cloud's"
            .to_string()
    } else if errmsg.contains("订单不存在") {
        "the cloud has no entry for this order: upload the entry (2.1) first and send the image \
         once the entry has been delivered"
            .to_string()
    } else if errmsg.contains("超过") || lower.contains("too large") {
        format!(
            "the cloud found the picture too large; it takes at most {BOLINK_MAX_IMAGE_BYTES} bytes"
        )
    } else if lower.contains("base64") {
        "the cloud could not decode `content` as Base64".to_string()
    } else if lower.contains("pic_type") {
        "the cloud found that the picture is not of the type `pic_type` names".to_string()
    } else if errmsg.contains("缺少参数") {
        "the cloud found a required field missing".to_string()
    } else {
        return None;
    };
    Some(text)
}

/// The image's `order_id` for the log, empty when it has none.
fn order_of(keys: &Map<String, Value>) -> &str {
    keys.get("order_id").and_then(Value::as_str).unwrap_or("")
}

/// The image's key fields, in a fixed order, for answers.
fn key_fields(message: &Map<String, Value>) -> Map<String, Value> {
    KEY_FIELDS
        .iter()
        .filter_map(|name| {
            message
                .get(*name)
                .filter(|v| !v.is_null())
                .map(|v| (name.to_string(), v.clone()))
        })
        .collect()
}
