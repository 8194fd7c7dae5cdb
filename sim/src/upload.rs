//! Vehicle images uploaded over HTTP (protocol section 2.12).
//!
//! The body is `{"token","sign","data":{...}}` (a top-level `service_name` is tolerated). Every
//! refusal is an ordinary answer with `state` 0, never an HTTP error, as the cloud does.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::link::text;
use crate::state::{Record, Session, Shared};
use crate::{LinkKind, StoredImage, sign};

const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = &[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

/// Checks and stores one upload, records it, and returns the answer.
pub(crate) fn receive(shared: &Shared, body: &[u8]) -> Value {
    let envelope = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(envelope)) => envelope,
        _ => return refusal("error:数据格式错误", None),
    };
    let data = envelope.get("data").cloned().unwrap_or(Value::Null);
    let order_id = data.get("order_id").and_then(text);
    let session = envelope
        .get("token")
        .and_then(Value::as_str)
        .and_then(|token| shared.lock().session_by_token(token).cloned());

    let checked = check(shared, session.as_ref(), &envelope, &data);

    let answer = match &checked {
        Ok(_) => {
            let mut accepted = json!({"state":1});
            if let Some(order_id) = &order_id {
                accepted["order_id"] = json!(order_id);
            }
            accepted["errmsg"] = json!("上传成功");
            accepted
        }
        Err(errmsg) => refusal(errmsg, order_id.as_deref()),
    };

    let recorded_data = without_content(&data);
    let mut recorded_envelope = envelope.clone();
    recorded_envelope.insert("data".to_owned(), recorded_data.clone());
    let record = Record {
        link: LinkKind::Cloud,
        park_id: session.map(|session| session.park_id),
        service_name: "upload_carpic".to_owned(),
        data: recorded_data,
        raw: Value::Object(recorded_envelope).to_string(),
        answer: Some(answer.clone()),
    };
    let retention = shared.config.image_retention;
    shared.update(|state| {
        if let Ok(image) = checked {
            state.add_image(image, retention);
        }
        state.record(record);
    });
    answer
}

/// Runs the checks in the cloud's order; the image to store, or the refusal's `errmsg`.
fn check(
    shared: &Shared,
    session: Option<&Session>,
    envelope: &Map<String, Value>,
    data: &Value,
) -> Result<StoredImage, String> {
    let session = session.ok_or("error:token无效")?;
    if !data.is_object() {
        return Err("error:缺少参数data".to_owned());
    }
    let sign = envelope.get("sign").and_then(Value::as_str).unwrap_or("");
    if sign::sign(data, &session.key) != sign {
        return Err("error:签名错误".to_owned());
    }

    let bytes = decode_content(data).ok_or("error:图片数据不是有效的base64")?;
    let limit = shared.config.max_image_bytes;
    if bytes.len() > limit {
        return Err(too_large(limit));
    }

    let pic_type = data
        .get("pic_type")
        .and_then(Value::as_str)
        .unwrap_or("jpg")
        .to_lowercase();
    let magic = match pic_type.as_str() {
        "jpg" | "jpeg" => JPEG_MAGIC,
        "png" => PNG_MAGIC,
        _ => return Err("error:图片格式与pic_type不符".to_owned()),
    };
    if !bytes.starts_with(magic) {
        return Err("error:图片格式与pic_type不符".to_owned());
    }

    let field = |name: &str| {
        data.get(name)
            .and_then(text)
            .filter(|value| !value.is_empty())
    };
    let picture_source = field("picture_source").unwrap_or_default();
    let required: &[&str] = match picture_source.as_str() {
        "order" => &["order_id", "park_order_type"],
        "liftrod" => &["liftrod_id"],
        "confirm" => &["event_id"],
        "capture" => &["uuid"],
        _ => return Err("error:picture_source无效".to_owned()),
    };
    if let Some(missing) = required.iter().find(|name| field(name).is_none()) {
        return Err(format!("error:缺少参数{missing}"));
    }

    let park_order_type = field("park_order_type");
    if picture_source == "order" {
        if !matches!(park_order_type.as_deref(), Some("in" | "out")) {
            return Err("error:park_order_type应为in或out".to_owned());
        }
        let order_id = field("order_id").unwrap_or_default();
        if !shared.lock().has_entered(&session.park_id, &order_id) {
            return Err("error:订单不存在".to_owned());
        }
    }

    Ok(StoredImage {
        id: 0,
        park_id: session.park_id.clone(),
        order_id: field("order_id"),
        picture_source,
        park_order_type,
        liftrod_id: field("liftrod_id"),
        event_id: field("event_id"),
        uuid: field("uuid"),
        pic_type: if magic == PNG_MAGIC { "png" } else { "jpg" }.to_owned(),
        bytes,
        received_at: SystemTime::now(),
    })
}

/// The image bytes from `data.content`: standard Base64 with padding. Line breaks and other
/// ASCII whitespace are skipped, since Java's MIME encoder inserts them.
fn decode_content(data: &Value) -> Option<Vec<u8>> {
    let content = data.get("content").and_then(Value::as_str)?;
    let compact: String = content
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if compact.is_empty() {
        return None;
    }
    STANDARD.decode(compact).ok()
}

/// The refusal of an image over `limit` bytes, naming the limit.
fn too_large(limit: usize) -> String {
    if limit % 1024 == 0 {
        format!("error:图片超过{}k", limit / 1024)
    } else {
        format!("error:图片超过{limit}字节")
    }
}

fn refusal(errmsg: &str, order_id: Option<&str>) -> Value {
    let mut refusal = json!({"state":0,"errmsg":errmsg});
    if let Some(order_id) = order_id {
        refusal["order_id"] = json!(order_id);
    }
    refusal
}

/// `data` as recorded: `content` replaced, in place, by `content_len` (its length in characters).
fn without_content(data: &Value) -> Value {
    let Value::Object(fields) = data else {
        return data.clone();
    };
    let recorded = fields
        .iter()
        .map(|(name, value)| match (name.as_str(), value) {
            ("content", Value::String(content)) => {
                ("content_len".to_owned(), json!(content.chars().count()))
            }
            ("content", _) => ("content_len".to_owned(), json!(0)),
            _ => (name.clone(), value.clone()),
        })
        .collect();
    Value::Object(recorded)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{too_large, without_content};

    #[test]
    fn names_the_limit_in_kib_or_bytes() {
        assert_eq!(too_large(150 * 1024), "error:图片超过150k");
        assert_eq!(too_large(1000), "error:图片超过1000字节");
    }

    #[test]
    fn records_the_content_length_in_place_of_the_content() {
        let data = json!({"order_id":"o1","content":"QUJD","pic_type":"jpg"});

        assert_eq!(
            without_content(&data).to_string(),
            r#"{"order_id":"o1","content_len":4,"pic_type":"jpg"}"#
        );
    }
}
