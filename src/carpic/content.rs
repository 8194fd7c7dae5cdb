//! `content`, the picture as standard Base64, checked without decoding all of it.
//!
//! The checks need the picture's size and its first bytes, not the picture. Decoding 200 000
//! characters to learn them costs about half as much CPU as posting them; instead the text is
//! scanned for the alphabet, the padding and the unused bits of its last character, which accepts
//! exactly the texts a strict decoder accepts, and only the first characters are decoded.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// How many characters are decoded for the first bytes: 12 bytes, enough for every format the
/// checks recognise.
const HEAD_CHARS: usize = 16;

/// What a valid Base64 text holds.
#[derive(Debug, PartialEq, Eq)]
pub struct Scanned {
    /// The size of the decoded bytes.
    pub len: usize,
    /// The first decoded bytes (up to 12).
    pub head: Vec<u8>,
}

/// Scans standard Base64 (`A-Z a-z 0-9 + /`, length a multiple of 4, `=` padding only at the
/// end, unused bits zero). `None` when the text is not that; [`super::check`] then says why.
pub fn scan(text: &str) -> Option<Scanned> {
    let bytes = text.as_bytes();
    let n = bytes.len();
    if n % 4 != 0 {
        return None;
    }
    let padding = bytes.iter().rev().take_while(|b| **b == b'=').count();
    if padding > 2 {
        return None;
    }
    let symbols = &bytes[..n - padding];
    if !all_symbols(symbols) {
        return None;
    }
    // The last character before the padding may only carry bits that belong to a byte.
    let unused_bits = match padding {
        1 => 0b11,
        2 => 0b1111,
        _ => 0,
    };
    if let Some(last) = symbols.last() {
        if value(*last) & unused_bits != 0 {
            return None;
        }
    }
    let head = STANDARD.decode(&bytes[..n.min(HEAD_CHARS)]).ok()?;
    Some(Scanned {
        len: n / 4 * 3 - padding,
        head,
    })
}

/// Whether every byte is one of the 64 symbols. Written without branches so that the compiler
/// turns it into vector instructions.
fn all_symbols(bytes: &[u8]) -> bool {
    bytes.chunks(256).all(|chunk| {
        chunk.iter().fold(true, |ok, &b| {
            let letter = (b | 0x20).wrapping_sub(b'a') < 26;
            let digit = b.wrapping_sub(b'0') < 10;
            ok & (letter | digit | (b == b'+') | (b == b'/'))
        })
    })
}

/// The 6-bit value of a symbol (the caller has checked it is one).
fn value(symbol: u8) -> u8 {
    match symbol {
        b'A'..=b'Z' => symbol - b'A',
        b'a'..=b'z' => symbol - b'a' + 26,
        b'0'..=b'9' => symbol - b'0' + 52,
        b'+' => 62,
        _ => 63,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so that failures can be replayed.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as usize
        }
    }

    /// The scan accepts what the strict decoder accepts, and agrees on size and first bytes.
    #[test]
    fn agrees_with_a_strict_decoder() {
        let mut rng = Lcg(42);
        let odd = b"AZaz09+/=-_ \n.@`{[\x7f";
        for round in 0..20_000 {
            let len = rng.next() % 40;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut text = STANDARD.encode(&bytes).into_bytes();
            // Most rounds break the text in one or two places.
            for _ in 0..(round % 3) {
                if text.is_empty() {
                    break;
                }
                let at = rng.next() % text.len();
                text[at] = odd[rng.next() % odd.len()];
            }
            if round % 7 == 0 && !text.is_empty() {
                text.truncate(rng.next() % text.len());
            }
            let text = String::from_utf8(text).unwrap();
            let expected = STANDARD.decode(&text).ok().map(|decoded| Scanned {
                len: decoded.len(),
                head: decoded[..decoded.len().min(12)].to_vec(),
            });
            assert_eq!(scan(&text), expected, "{text:?}");
        }
    }

    #[test]
    fn finds_a_bad_symbol_anywhere_in_a_long_text() {
        let text = STANDARD.encode(vec![0x5Au8; 150 * 1024]);
        assert_eq!(scan(&text).unwrap().len, 150 * 1024);
        for at in [0, 1000, 100_000, text.len() - 5] {
            let mut broken = text.clone().into_bytes();
            broken[at] = b'-';
            assert_eq!(scan(&String::from_utf8(broken).unwrap()), None, "{at}");
        }
    }
}
