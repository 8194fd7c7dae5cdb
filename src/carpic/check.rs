//! The checks an image upload passes before anything leaves the machine: the fields section 2.12
//! requires for each picture source, their lengths, the unix time, and `content` itself (Base64,
//! size, and a JPEG or PNG picture of the type `pic_type` names).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::content::{Scanned, scan};
use crate::error::{ErrCode, Error, Result};
use crate::fields::{self, Kind, Rule, opt, req, str_of};
use crate::services;

/// The largest picture an image upload (`upload_carpic`) may carry, in bytes of the file before
/// Base64: 150 KB as the vendor counts it, 150 × 1024. The vendor's page says "150k" for a file
/// size read on Windows, where a KB is 1024 bytes, and the simulator enforces the same number.
pub const BOLINK_MAX_IMAGE_BYTES: usize = 150 * 1024;

/// The longest `content` text: the vendor's table allows 40万 (400 000) characters.
pub(crate) const MAX_CONTENT_CHARS: usize = 400_000;

/// The picture sources of section 2.12 and the field each one needs besides the common ones.
const SOURCES: &[(&str, &str, &str)] = &[
    (
        "order",
        "order_id",
        "needs the id of the order the image belongs to, as uploaded with the entry (2.1)",
    ),
    (
        "liftrod",
        "liftrod_id",
        "needs the id of the barrier record, as uploaded with 2.11",
    ),
    (
        "confirm",
        "event_id",
        "needs the id of the matching event, as uploaded with 2.17",
    ),
    (
        "capture",
        "uuid",
        "needs the `uuid` of the lane capture request (3.31), unchanged",
    ),
];

/// Types and lengths from the vendor's table. `service_name` and `data_target` are checked with
/// every upload; `content` is checked on its own below.
const RULES: &[Rule] = &[
    req("picture_source", Kind::Str, 8),
    req("create_time", Kind::Num, 15),
    req("upload_type", Kind::Str, 8),
    opt("order_id", Kind::Str, 48),
    opt("park_order_type", Kind::Str, 8),
    opt("liftrod_id", Kind::Str, 24),
    opt("event_id", Kind::Str, 24),
    opt("uuid", Kind::Str, 24),
    opt("car_number", Kind::Str, 8),
    opt("pic_type", Kind::Str, 8),
    opt("resume", Kind::Str, 48),
];

/// Unix seconds accepted for `create_time`: from 2000-01-01 to 2099-12-31.
const UNIX_TIME_RANGE: std::ops::RangeInclusive<u64> = 946_684_800..=4_102_444_799;

/// The ASCII whitespace that encoders put into Base64 (line breaks every 76 characters from
/// Java's MIME encoder, .NET's `InsertLineBreaks` and Delphi's `TNetEncoding.Base64`).
const BASE64_SPACE: [u8; 4] = [b' ', b'\t', b'\r', b'\n'];

const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// The picture formats the cloud takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Picture {
    /// Starts with FF D8 FF; `pic_type` "jpg" (the default) or "jpeg".
    Jpeg,
    /// Starts with the 8-byte PNG signature; `pic_type` "png".
    Png,
}

impl Picture {
    fn name(self) -> &'static str {
        match self {
            Picture::Jpeg => "JPEG",
            Picture::Png => "PNG",
        }
    }

    fn pic_type(self) -> &'static str {
        match self {
            Picture::Jpeg => "jpg",
            Picture::Png => "png",
        }
    }
}

/// What the checks found in a valid upload. Borrows the message it was checked from.
#[derive(Debug)]
pub struct Checked<'a> {
    /// `content` as it goes on the wire: the caller's text, or the same text without the line
    /// breaks and spaces an encoder put in.
    pub content: Cow<'a, str>,
    pub picture: Picture,
    /// The decoded picture size in bytes.
    pub bytes: usize,
}

/// Checks an `upload_carpic` message, without sending anything. Every error names the field and
/// the rule it broke: MISSING_FIELD and INVALID_FIELD for the fields, IMAGE_INVALID for a
/// `content` that is not Base64 of a JPEG or PNG picture of the declared type, IMAGE_TOO_LARGE
/// for a picture over [`BOLINK_MAX_IMAGE_BYTES`].
pub fn check(message: &Map<String, Value>) -> Result<Checked<'_>> {
    check_fields(message)?;
    check_content(message)
}

/// Everything except `content`.
fn check_fields(message: &Map<String, Value>) -> Result<()> {
    if str_of(message, "data_target") != Some("cloud") {
        return Err(Error::invalid(
            "data_target",
            "must be \"cloud\" for an image (upload_carpic); images are kept by the cloud",
        ));
    }
    let sources = || {
        SOURCES
            .iter()
            .map(|(name, _, _)| format!("\"{name}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if is_absent(message, "picture_source") {
        return Err(Error::new(
            ErrCode::MissingField,
            format!(
                "missing required field `picture_source`: say what the image shows, one of {}",
                sources()
            ),
        ));
    }
    if is_absent(message, "create_time") {
        return Err(Error::new(
            ErrCode::MissingField,
            "missing required field `create_time`: the unix time in seconds the picture was \
             taken, such as 1490875218",
        ));
    }
    if is_absent(message, "upload_type") {
        return Err(Error::new(
            ErrCode::MissingField,
            "missing required field `upload_type`: images are posted over HTTP, so it must be \
             \"http\"",
        ));
    }
    fields::check(message, RULES)?;

    let source = str_of(message, "picture_source").unwrap_or_default();
    let Some((_, needed, why)) = SOURCES.iter().find(|(name, _, _)| *name == source) else {
        return Err(Error::invalid(
            "picture_source",
            format!("is {source:?}; it must be one of {}", sources()),
        ));
    };
    if is_absent(message, needed) {
        return Err(Error::new(
            ErrCode::MissingField,
            format!("missing required field `{needed}`: picture_source \"{source}\" {why}"),
        ));
    }
    if source == "order" {
        if is_absent(message, "park_order_type") {
            return Err(Error::new(
                ErrCode::MissingField,
                "missing required field `park_order_type`: picture_source \"order\" needs \"in\" \
                 for an entry image or \"out\" for an exit image",
            ));
        }
        services::check_order_id(message)?;
    }
    if let Some(kind) = str_of(message, "park_order_type") {
        if !matches!(kind, "in" | "out") {
            return Err(Error::invalid(
                "park_order_type",
                format!("is {kind:?}; it must be \"in\" (entry image) or \"out\" (exit image)"),
            ));
        }
    }

    let upload_type = str_of(message, "upload_type").unwrap_or_default();
    if upload_type != "http" {
        return Err(Error::invalid(
            "upload_type",
            format!("is {upload_type:?}; images are posted over HTTP, so it must be \"http\""),
        ));
    }
    check_unix_time(message, "create_time")?;
    pic_type(message)?;
    Ok(())
}

/// A missing, null or empty field.
fn is_absent(message: &Map<String, Value>, name: &str) -> bool {
    match message.get(name) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

/// A unix time in whole seconds, given as a number or as digits.
fn check_unix_time(message: &Map<String, Value>, name: &str) -> Result<()> {
    let value = &message[name];
    let seconds = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    };
    let shown = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    match seconds {
        Some(s) if UNIX_TIME_RANGE.contains(&s) => Ok(()),
        Some(s) if s >= 1_000_000_000_000 => Err(Error::invalid(
            name,
            format!(
                "is {shown}, which looks like milliseconds; it must be a unix time in seconds, \
                 such as 1490875218"
            ),
        )),
        _ => Err(Error::invalid(
            name,
            format!(
                "is {shown}; it must be a unix time in whole seconds between 2000 and 2099, \
                 such as 1490875218"
            ),
        )),
    }
}

/// The picture type the caller declares (`jpg` when `pic_type` is absent).
fn pic_type(message: &Map<String, Value>) -> Result<Picture> {
    match str_of(message, "pic_type") {
        None | Some("") => Ok(Picture::Jpeg),
        Some(t) if t.eq_ignore_ascii_case("jpg") || t.eq_ignore_ascii_case("jpeg") => {
            Ok(Picture::Jpeg)
        }
        Some(t) if t.eq_ignore_ascii_case("png") => Ok(Picture::Png),
        Some(t) => Err(Error::invalid(
            "pic_type",
            format!("is {t:?}; the cloud takes \"jpg\" (the default) or \"png\" pictures"),
        )),
    }
}

/// `content`: Base64 of a JPEG or PNG picture of the declared type, at most
/// [`BOLINK_MAX_IMAGE_BYTES`] once decoded.
fn check_content(message: &Map<String, Value>) -> Result<Checked<'_>> {
    let content = match message.get("content") {
        None | Some(Value::Null) => {
            return Err(Error::new(
                ErrCode::MissingField,
                "missing required field `content`: the picture file's bytes, Base64-encoded",
            ));
        }
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(Error::invalid(
                "content",
                "must be a string: the picture file's bytes, Base64-encoded",
            ));
        }
    };
    if content
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .is_empty()
    {
        return Err(Error::new(
            ErrCode::ImageInvalid,
            "image `content` is empty; it must hold the picture file's bytes, Base64-encoded",
        ));
    }

    let (content, scanned) = scan_base64(content)?;
    if scanned.len > BOLINK_MAX_IMAGE_BYTES {
        return Err(Error::new(
            ErrCode::ImageTooLarge,
            format!(
                "image `content` decodes to {} bytes; the cloud accepts at most {} bytes \
                 (150 KB): lower the JPEG quality or the resolution",
                scanned.len, BOLINK_MAX_IMAGE_BYTES
            ),
        ));
    }
    if content.len() > MAX_CONTENT_CHARS {
        return Err(Error::invalid(
            "content",
            format!(
                "is {} characters long without its line breaks; at most {MAX_CONTENT_CHARS} are \
                 allowed",
                content.len()
            ),
        ));
    }

    let declared = pic_type(message)?;
    let picture = sniff(&scanned.head)?;
    if picture != declared {
        let given = str_of(message, "pic_type").filter(|t| !t.is_empty());
        return Err(Error::new(
            ErrCode::ImageInvalid,
            format!(
                "image `content` is a {} picture but `pic_type` is {}; set `pic_type` to \"{}\" \
                 or send a {} picture",
                picture.name(),
                given.map_or("absent (so \"jpg\")".to_string(), |t| format!("{t:?}")),
                picture.pic_type(),
                declared.name(),
            ),
        ));
    }
    Ok(Checked {
        content,
        picture,
        bytes: scanned.len,
    })
}

/// Checks standard Base64 (`A-Z a-z 0-9 + /`, `=` padding required). Spaces and line breaks
/// are allowed and removed, so that the cloud gets plain Base64 whatever encoder the host used.
fn scan_base64(content: &str) -> Result<(Cow<'_, str>, Scanned)> {
    // Most hosts send plain Base64: take it as it is, and look closer only when that fails.
    if let Some(scanned) = scan(content) {
        return Ok((Cow::Borrowed(content), scanned));
    }
    if content.bytes().any(|b| BASE64_SPACE.contains(&b)) {
        let plain: String = content
            .chars()
            .filter(|c| !c.is_ascii() || !BASE64_SPACE.contains(&(*c as u8)))
            .collect();
        if let Some(scanned) = scan(&plain) {
            return Ok((Cow::Owned(plain), scanned));
        }
    }
    Err(Error::new(
        ErrCode::ImageInvalid,
        format!(
            "image `content` is not valid Base64: {}",
            base64_problem(content)
        ),
    ))
}

/// Why a text is not standard Base64, in words, with the position of the first bad character.
fn base64_problem(content: &str) -> String {
    if content.starts_with("data:") {
        let prefix_end = content.find(',').map_or(content.len().min(30), |i| i + 1);
        return format!(
            "it starts with the data-URI prefix {:?}; send the Base64 text alone, without the \
             prefix",
            &content[..prefix_end]
        );
    }
    let mut letters = 0usize;
    let mut padding = 0usize;
    for (position, c) in content.chars().enumerate() {
        let is_letter = c.is_ascii_alphanumeric() || c == '+' || c == '/';
        if c.is_ascii() && BASE64_SPACE.contains(&(c as u8)) {
            continue;
        }
        if c == '=' {
            padding += 1;
            continue;
        }
        if is_letter && padding > 0 {
            return format!(
                "`=` padding appears before character {position}; `=` may only end the text"
            );
        }
        if is_letter {
            letters += 1;
            continue;
        }
        let hint = match c {
            '-' | '_' => {
                "; `-` and `_` belong to the URL-safe alphabet, encode with the standard one \
                 (`+` and `/`)"
            }
            _ => "",
        };
        return format!(
            "character {c:?} at position {position} is not in the standard Base64 alphabet \
             (A-Z a-z 0-9 + /){hint}"
        );
    }
    if padding > 2 {
        return format!("it ends with {padding} `=`; Base64 ends with at most two");
    }
    let total = letters + padding;
    if total % 4 != 0 {
        return format!(
            "it has {total} Base64 characters, not a multiple of 4: the text is cut short or its \
             `=` padding is missing"
        );
    }
    "its last characters do not end a Base64 text correctly; the text may be cut short".to_string()
}

/// The picture format of decoded bytes, from their first 12 bytes.
fn sniff(bytes: &[u8]) -> Result<Picture> {
    if bytes.starts_with(JPEG_MAGIC) {
        return Ok(Picture::Jpeg);
    }
    if bytes.starts_with(PNG_MAGIC) {
        return Ok(Picture::Png);
    }
    let known = [
        (&b"GIF8"[..], "a GIF picture"),
        (&b"BM"[..], "a BMP picture"),
        (&b"II*\0"[..], "a TIFF picture"),
        (&b"MM\0*"[..], "a TIFF picture"),
        (&b"%PDF"[..], "a PDF document"),
    ];
    let webp = bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP";
    let what = if webp {
        "a WebP picture".to_string()
    } else if let Some((_, name)) = known.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        name.to_string()
    } else {
        let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02X}")).collect();
        format!(
            "not a known picture format (it starts with {})",
            head.join(" ")
        )
    };
    Err(Error::new(
        ErrCode::ImageInvalid,
        format!(
            "image `content` decodes to {what}; the cloud takes JPEG (starting FF D8 FF) or PNG \
             pictures"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    fn message(content: &str) -> Map<String, Value> {
        let value = json!({
            "service_name": "upload_carpic",
            "data_target": "cloud",
            "picture_source": "capture",
            "uuid": "u1",
            "create_time": 1700000000,
            "upload_type": "http",
            "content": content,
        });
        value.as_object().unwrap().clone()
    }

    fn jpeg_text() -> String {
        STANDARD.encode([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5])
    }

    #[test]
    fn plain_base64_is_borrowed_and_line_breaks_are_removed() {
        let plain = jpeg_text();
        let m = message(&plain);
        assert!(matches!(check(&m).unwrap().content, Cow::Borrowed(_)));

        let broken = format!("{}\r\n{}\n", &plain[..4], &plain[4..]);
        let m = message(&broken);
        let checked = check(&m).unwrap();
        assert_eq!(checked.content, plain);
        assert_eq!(checked.bytes, 9);
    }

    #[test]
    fn base64_problems_are_named() {
        let cases = [
            (
                "data:image/jpeg;base64,/9j/",
                "data-URI prefix \"data:image/jpeg;base64,\"",
            ),
            ("/9j-4A==", "character '-' at position 3"),
            ("/9j/4A", "6 Base64 characters, not a multiple of 4"),
            ("/9j/4A=A", "padding appears before character 7"),
            ("/9j/4B==", "do not end a Base64 text correctly"),
        ];
        for (content, expected) in cases {
            let err = check(&message(content)).unwrap_err();
            assert_eq!(err.code, ErrCode::ImageInvalid, "{content}");
            assert!(err.message.contains(expected), "{content}: {}", err.message);
        }
    }

    #[test]
    fn unix_time_in_seconds_only() {
        for (time, ok) in [
            (json!(1700000000), true),
            (json!("1700000000"), true),
            (json!(1700000000000u64), false),
            (json!("2023-11-14"), false),
            (json!(12), false),
        ] {
            let mut m = message(&jpeg_text());
            m.insert("create_time".into(), time.clone());
            assert_eq!(check(&m).is_ok(), ok, "{time}");
        }
    }
}
