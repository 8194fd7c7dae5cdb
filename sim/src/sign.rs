//! The message sign of the SDK link and the image upload.

use md5::{Digest, Md5};
use serde_json::Value;

/// `UPPER_HEX(MD5(compact_json(data) + "key=" + secret))`.
///
/// `data` is serialised compactly in its own key order (serde_json with `preserve_order`: no
/// whitespace, non-ASCII and `/` left as they are), which is the form the cloud re-creates from
/// the parsed message before comparing. Numbers come out in serde_json's form, so a sender that
/// wrote `1.50` signs a text that differs from the re-created `1.5`; the vendor's side has the
/// same trait, and clients send integers and strings.
pub fn sign(data: &Value, secret: &str) -> String {
    // Serialising a `Value` cannot fail: its map keys are strings and it holds no foreign types.
    let mut text = serde_json::to_string(data).unwrap_or_default();
    text.push_str("key=");
    text.push_str(secret);

    let digest = Md5::digest(text.as_bytes());
    let mut hex = String::with_capacity(32);
    for byte in digest {
        hex.push_str(&format!("{byte:02X}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::sign;

    #[test]
    fn matches_the_documented_vector() {
        let data = serde_json::from_str(
            r#"{"union_id":"200208","park_id":"21835","local_id":"0071cc97102b_1001_qh321_quanhao-atest1"}"#,
        )
        .unwrap();

        assert_eq!(
            sign(&data, "8403A41ED5EF20BC"),
            "CB649425CB5548A375099103AB04CC1E"
        );
    }

    #[test]
    fn keeps_key_order_and_leaves_text_unescaped() {
        let data = serde_json::from_str(r#"{"b":"京A/1","a":1}"#).unwrap();
        let by_hand = {
            use md5::{Digest, Md5};
            let digest = Md5::digest("{\"b\":\"京A/1\",\"a\":1}key=k".as_bytes());
            digest
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        };

        assert_eq!(sign(&data, "k"), by_hand);
    }
}
