//! Login tokens.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh token: 32 lowercase hex digits, like the cloud's.
///
/// The digits come from std's randomly keyed SipHash over a counter and the clock. That is not a
/// cryptographic generator, which a simulator on a test machine does not need; it only has to
/// make tokens that differ between sessions and runs.
pub(crate) fn new_token() -> String {
    static ISSUED: AtomicU64 = AtomicU64::new(0);
    let count = ISSUED.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);

    let mut token = String::with_capacity(32);
    for half in 0u8..2 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(count);
        hasher.write_u128(nanos);
        hasher.write_u8(half);
        token.push_str(&format!("{:016x}", hasher.finish()));
    }
    token
}

#[cfg(test)]
mod tests {
    use super::new_token;

    #[test]
    fn is_32_lowercase_hex_digits_and_new_each_time() {
        let first = new_token();
        let second = new_token();

        assert_eq!(first.len(), 32);
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(first, second);
    }
}
