//! Framing. Upstream: one compact JSON object per line, and the heartbeat `0x11 \n`. Downstream:
//! the cloud writes `"\n" + json + "\r"`; `\n` and `\r` both end a frame, empty frames are
//! skipped, `0x12` is the heartbeat answer, and objects glued together (`}{`) are split apart.

/// The heartbeat the SDK sends.
pub const HEARTBEAT: &[u8] = b"\x11\n";

/// The byte a logged-in channel answers a heartbeat with.
const HEARTBEAT_ACK: u8 = 0x12;

/// The largest frame kept; anything longer is dropped as garbage.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// One downstream frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    HeartbeatAck,
    Json(String),
}

/// Splits the downstream byte stream into frames.
#[derive(Default)]
pub struct Splitter {
    buf: Vec<u8>,
    oversized: bool,
}

impl Splitter {
    /// Feeds bytes and returns the frames they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        for &b in bytes {
            match b {
                b'\n' | b'\r' => {
                    let segment = std::mem::take(&mut self.buf);
                    if !std::mem::take(&mut self.oversized) {
                        split_segment(&segment, &mut frames);
                    }
                }
                _ if self.buf.len() >= MAX_FRAME => self.oversized = true,
                _ => self.buf.push(b),
            }
        }
        frames
    }
}

fn split_segment(segment: &[u8], frames: &mut Vec<Frame>) {
    let mut rest = segment;
    loop {
        while let Some((&first, tail)) = rest.split_first() {
            if first == HEARTBEAT_ACK {
                frames.push(Frame::HeartbeatAck);
            } else if !(first.is_ascii_whitespace() || first == 0x11) {
                break;
            }
            rest = tail;
        }
        if rest.is_empty() {
            return;
        }
        let end = object_end(rest).unwrap_or(rest.len());
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        frames.push(Frame::Json(text));
        rest = &rest[end..];
    }
}

/// Where the JSON object at the start of `bytes` ends, when it is complete.
fn object_end(bytes: &[u8]) -> Option<usize> {
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> Frame {
        Frame::Json(s.to_string())
    }

    #[test]
    fn cloud_framing_heartbeats_and_glued_objects() {
        let mut s = Splitter::default();
        let frames = s.feed(b"\n{\"a\":1}\r\x12\n\n{\"b\":\"}{\"}{\"c\":[{}]}\r\n{\"d\"");
        assert_eq!(
            frames,
            vec![
                json("{\"a\":1}"),
                Frame::HeartbeatAck,
                json("{\"b\":\"}{\"}"),
                json("{\"c\":[{}]}")
            ]
        );
        assert_eq!(s.feed(b":2}\r"), vec![json("{\"d\":2}")]);
    }

    #[test]
    fn non_json_garbage_is_one_frame() {
        let mut s = Splitter::default();
        assert_eq!(s.feed(b"hello\n"), vec![json("hello")]);
    }
}
