//! The request body of an image upload: `{"token":..,"sign":..,"data":{..}}`, where `data` is the
//! caller's message in the compact form the cloud signs (protocol 3.1).

use serde_json::{Map, Value};

use crate::sign;

/// The `data` text of an upload: the caller's fields in their order, `content` replaced by
/// `content` (the caller's Base64 without line breaks), in the form the sign is computed over.
/// `content` must be checked Base64: it is written without escaping.
pub fn data_text(message: &Map<String, Value>, content: &str) -> String {
    let mut out = String::with_capacity(content.len() + 512);
    out.push('{');
    for (i, (name, value)) in message.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Serialising a string or a `Value` cannot fail. Each field but `content` is short: a
        // small string apiece is cheaper than checking the whole text for UTF-8 afterwards.
        out.push_str(&serde_json::to_string(name).unwrap_or_default());
        out.push(':');
        if name == "content" {
            // Checked Base64 needs no escaping: it is copied as it is.
            out.push('"');
            out.push_str(content);
            out.push('"');
        } else {
            out.push_str(&serde_json::to_string(value).unwrap_or_default());
        }
    }
    out.push('}');
    out
}

/// The body posted to the image endpoint: the token, the sign of `data` with `secret`, and
/// `data` itself, copied once.
pub fn envelope(token: &str, secret: &str, data: &str) -> String {
    let sign = sign::sign_text(data, secret);
    let token = serde_json::to_string(token).unwrap_or_default();
    let mut body = String::with_capacity(data.len() + token.len() + 64);
    body.push_str("{\"token\":");
    body.push_str(&token);
    body.push_str(",\"sign\":\"");
    body.push_str(&sign);
    body.push_str("\",\"data\":");
    body.push_str(data);
    body.push('}');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keeps_the_order_and_replaces_content() {
        let message: Value = serde_json::from_str(
            r#"{"service_name":"upload_carpic","content":"QU\nJD","car_number":"京A1/2","n":1.50}"#,
        )
        .unwrap();
        let data = data_text(message.as_object().unwrap(), "QUJD");
        assert_eq!(
            data,
            r#"{"service_name":"upload_carpic","content":"QUJD","car_number":"京A1/2","n":1.50}"#
        );
    }

    #[test]
    fn the_envelope_is_json_with_the_sign_of_data() {
        // The vendor's sign example.
        let data = concat!(
            r#"{"union_id":"200208","park_id":"21835","#,
            r#""local_id":"0071cc97102b_1001_qh321_quanhao-atest1"}"#
        );
        let body = envelope("t0k", "8403A41ED5EF20BC", data);
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["token"], "t0k");
        assert_eq!(parsed["sign"], "CB649425CB5548A375099103AB04CC1E");
        assert_eq!(sign::compact(&parsed["data"]), data);
    }
}
