//! The `bolink-images` thread: posts the images kept in the outbox ([`LinkId::Images`]) once the
//! cloud link is logged in, oldest first, and tells the host's receiver what the cloud answered.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{Outcome, SERVICE, key_fields, order_of, post_data, secret};
use crate::LinkId;
use crate::client::Shared;
use crate::error::{ErrCode, Error};
use crate::outbox::Entry;

/// The longest the thread sleeps without being woken; a safety net, since every event that
/// matters (an image kept, a login, a stop) wakes it.
const IDLE: Duration = Duration::from_secs(30);

/// The pause after the first failed post of a kept image; it doubles up to [`LAST_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const LAST_BACKOFF: Duration = Duration::from_secs(60);

/// When to try again after a failure. A new login (another token) ends the pause early: the
/// link coming back usually means the network did too.
struct Backoff {
    until: Instant,
    token: String,
    delay: Duration,
}

/// Starts the worker. It ends soon after `shared.stopping` is set and [`super::Images::wake`]
/// is called; a post in progress is finished first (bounded by `sync_timeout_ms`).
pub fn spawn(shared: Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("bolink-images".into())
        .spawn(move || run(&shared))
}

fn run(shared: &Shared) {
    let mut backoff: Option<Backoff> = None;
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Some(token) = shared.link(LinkId::Cloud).and_then(|link| link.token()) else {
            shared.carpic.sleep(IDLE);
            continue;
        };
        if let Some(pause) = &backoff {
            let now = Instant::now();
            if pause.token == token && now < pause.until {
                shared.carpic.sleep(pause.until - now);
                continue;
            }
        }
        let Some(entry) = shared.outbox.next_after(LinkId::Images, 0, 1).pop() else {
            shared.carpic.sleep(IDLE);
            continue;
        };

        match send(shared, &entry, &token) {
            Ok(()) => backoff = None,
            Err(why) => {
                let delay = backoff
                    .as_ref()
                    .map_or(FIRST_BACKOFF, |b| (b.delay * 2).min(LAST_BACKOFF));
                tracing::warn!(
                    id = entry.id,
                    "kept image not sent, next try in {} s: {}",
                    delay.as_secs(),
                    why.message
                );
                backoff = Some(Backoff {
                    until: Instant::now() + delay,
                    token,
                    delay,
                });
            }
        }
    }
}

/// Posts one kept image. `Ok` when the cloud answered (the entry then leaves the outbox: removed
/// when accepted, set aside when refused); the error when it must be tried again.
fn send(shared: &Shared, entry: &Entry, token: &str) -> Result<(), Error> {
    let message = match serde_json::from_str::<Value>(&entry.data) {
        Ok(Value::Object(message)) => message,
        _ => {
            let why = "a kept image is not a JSON object; set aside";
            tracing::error!(id = entry.id, "{why}");
            shared.outbox.reject(entry.id, why);
            return Ok(());
        }
    };
    let keys = key_fields(&message);
    drop(message);

    let timeout = shared.config.sync_timeout;
    let refusal = match post_data(shared, &entry.data, &keys, token, secret(shared), timeout) {
        Outcome::Failed(why) => return Err(why),
        Outcome::Accepted(answer) => {
            shared.outbox.remove(entry.id);
            tracing::info!(
                id = entry.id,
                order_id = order_of(&keys),
                "kept image accepted by the cloud"
            );
            shared.downstream.deliver(report(answer, &keys));
            return Ok(());
        }
        Outcome::TokenRefused(refusal) => {
            let current = shared.link(LinkId::Cloud).and_then(|link| link.token());
            if current.is_none_or(|current| current != token) {
                // Posted with a token the cloud had just dropped: the next login's will do.
                return Err(Error::new(
                    ErrCode::LinkDown,
                    "the cloud link logged in again while the image was posted",
                ));
            }
            refusal
        }
        Outcome::Refused(refusal) => refusal,
    };
    let errmsg = refusal
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or("refused")
        .to_string();
    tracing::warn!(id = entry.id, "kept image refused by the cloud: {errmsg}");
    shared.outbox.reject(entry.id, &errmsg);
    shared.downstream.deliver(report(refusal, &keys));
    Ok(())
}

/// The message the host's receiver gets: `service_name` "upload_carpic", the cloud's answer,
/// and the image's key fields the answer left out.
fn report(answer: Map<String, Value>, keys: &Map<String, Value>) -> String {
    let mut report = Map::new();
    report.insert("service_name".into(), SERVICE.into());
    for (name, value) in answer {
        if name != "service_name" {
            report.insert(name, value);
        }
    }
    for (name, value) in keys {
        if !report.contains_key(name) {
            report.insert(name.clone(), value.clone());
        }
    }
    crate::sign::compact(&Value::Object(report))
}
