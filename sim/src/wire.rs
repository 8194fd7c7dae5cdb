//! Framing of the SDK link.
//!
//! Upstream, the client sends one compact JSON object per line, ended by `\n` (a `\r` before it
//! is tolerated), or a heartbeat line. Downstream, the cloud writes `"\n" + json + "\r"` for
//! every answer and every push, and answers a heartbeat with a heartbeat of its own.

use serde_json::Value;

/// The longest upstream line the simulator takes, `\n` excluded.
///
/// The 2018 cloud server cut lines at 1024 bytes; today's limit is not published, and real
/// messages (an exit with many fields, a long lane list) can exceed 1024 bytes, so the simulator
/// takes up to 1 MiB and closes a connection whose line grows beyond that.
pub(crate) const MAX_LINE: usize = 1024 * 1024;

/// What a heartbeat line holds, and what the answer to it holds.
pub(crate) enum Heartbeat {
    /// The single byte 0x11, answered by the single byte 0x12.
    Byte,
    /// The four characters `0x11` (how the vendor's notes spell it), answered by `0x12`.
    Text,
}

/// Recognises a heartbeat line (without its line end).
pub(crate) fn heartbeat(line: &[u8]) -> Option<Heartbeat> {
    match line {
        [0x11] => Some(Heartbeat::Byte),
        b"0x11" => Some(Heartbeat::Text),
        _ => None,
    }
}

/// The bytes that answer a heartbeat, in the form it came in.
pub(crate) fn heartbeat_answer(kind: &Heartbeat) -> &'static [u8] {
    match kind {
        Heartbeat::Byte => b"\x12\n",
        Heartbeat::Text => b"0x12\n",
    }
}

/// One downstream message as it goes on the wire.
pub(crate) fn frame(message: &Value) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(128);
    bytes.push(b'\n');
    // Serialising a `Value` cannot fail.
    bytes.extend_from_slice(
        serde_json::to_string(message)
            .unwrap_or_default()
            .as_bytes(),
    );
    bytes.push(b'\r');
    bytes
}
