//! Section 2.12: vehicle images, posted over HTTP with the cloud link's token and sign.

use serde_json::{Map, Value};

use crate::LinkId;
use crate::client::Shared;
use crate::error::{ErrCode, Error, Result};
use crate::sign;

/// Uploads one image and returns the cloud's answer.
pub fn upload(shared: &Shared, message: &Map<String, Value>) -> Result<Value> {
    let link = shared.link(LinkId::Cloud).ok_or_else(|| {
        Error::new(
            ErrCode::LinkDown,
            "images go to the cloud, and no cloud link is configured",
        )
    })?;
    let token = link.token().ok_or_else(|| {
        Error::new(
            ErrCode::LinkDown,
            "the cloud link is not logged in yet; no token to upload with",
        )
    })?;
    let secret = shared
        .config
        .cloud
        .as_ref()
        .map(|c| c.secret.clone())
        .unwrap_or_default();
    let data = sign::compact(&Value::Object(message.clone()));
    let body = format!(
        "{{\"token\":\"{token}\",\"sign\":\"{}\",\"data\":{data}}}",
        sign::sign_text(&data, &secret)
    );
    let response = reqwest::blocking::Client::new()
        .post(&shared.config.image_url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .map_err(|e| Error::new(ErrCode::Network, format!("image upload failed: {e}")))?;
    let text = response
        .text()
        .map_err(|e| Error::new(ErrCode::Http, e.to_string()))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::new(ErrCode::Http, format!("unreadable answer: {e}")))
}
