//! The message sign: MD5 over the compact JSON of `data` followed by `key=<secret>`.
//!
//! The cloud re-serialises the `data` it parsed, keeping key order, and compares signs over that
//! text. `serde_json` built with `preserve_order` and `arbitrary_precision` writes the same form:
//! no whitespace, keys in the order given, non-ASCII and `/` unescaped, numbers as written.

use md5::{Digest, Md5};
use serde_json::Value;

/// The compact JSON text of a value, as the cloud computes it for the sign.
pub fn compact(value: &Value) -> String {
    // Serialising a `Value` cannot fail: every map key is a string.
    serde_json::to_string(value).unwrap_or_default()
}

/// The sign of a compact JSON text with a secret: 32 uppercase hex digits.
pub fn sign_text(data_json: &str, secret: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(data_json.as_bytes());
    md5.update(b"key=");
    md5.update(secret.as_bytes());
    hex_upper(&md5.finalize())
}

/// Lower-case hex, used for tokens and MAC addresses.
pub fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_vector() {
        let data = r#"{"union_id":"200208","park_id":"21835","local_id":"0071cc97102b_1001_qh321_quanhao-atest1"}"#;
        let parsed: Value = serde_json::from_str(data).unwrap();
        assert_eq!(compact(&parsed), data);
        assert_eq!(
            sign_text(&compact(&parsed), "8403A41ED5EF20BC"),
            "CB649425CB5548A375099103AB04CC1E"
        );
    }

    #[test]
    fn compact_keeps_order_numbers_and_text() {
        let input = "{ \"z\" : 1.50, \"a\": \"京A/1\\u4eac\", \"n\": [1, -20, 0.10] }";
        let parsed: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            compact(&parsed),
            r#"{"z":1.50,"a":"京A/1京","n":[1,-20,0.10]}"#
        );
    }
}
