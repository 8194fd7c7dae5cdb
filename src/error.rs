//! Error codes and the error type every layer returns.

use std::fmt;

/// Stable error codes. A code, once published, keeps its number forever: new codes are appended,
/// retired ones stay listed as comments so their numbers are never reused.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrCode {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// An input string was not valid UTF-8 (GBK text from an ANSI host is the usual cause).
    InvalidUtf8 = 2,
    /// The input was not a JSON object.
    MalformedJson = 3,
    /// The input was larger than the library accepts.
    InputTooLarge = 4,
    /// A required field was missing.
    MissingField = 5,
    /// A field had the wrong type, length, pattern or value.
    InvalidField = 6,
    /// `init` was called while the SDK was already running.
    AlreadyInitialized = 7,
    /// A call that needs a running SDK came before `init` or after `uninit`.
    NotInitialized = 8,
    /// The link to the cloud is not logged in, and the call cannot wait for it.
    LinkDown = 9,
    /// No answer came within the time allowed.
    Timeout = 10,
    /// The cloud answered and refused the message.
    Refused = 11,
    /// An image is larger than the cloud accepts.
    ImageTooLarge = 12,
    /// An image is not valid Base64, or not the picture type it claims to be.
    ImageInvalid = 13,
    /// An HTTP request failed: a status other than 200, or an unreadable answer.
    Http = 14,
    /// The outbox could not store or read a message.
    Storage = 15,
    /// The outbox is full; the message was not accepted.
    OutboxFull = 16,
    /// A bug inside the library was caught before it could reach the host.
    Internal = 17,
    /// The call is not allowed from where it was made (for example `uninit` from the receive
    /// callback of the same SDK).
    WrongThread = 18,
    /// The network could not be reached (DNS failure, connection refused, reset).
    Network = 19,
}

impl ErrCode {
    /// The code's name as written in the header and the README.
    pub fn name(self) -> &'static str {
        match self {
            ErrCode::Ok => "OK",
            ErrCode::NullArgument => "NULL_ARGUMENT",
            ErrCode::InvalidUtf8 => "INVALID_UTF8",
            ErrCode::MalformedJson => "MALFORMED_JSON",
            ErrCode::InputTooLarge => "INPUT_TOO_LARGE",
            ErrCode::MissingField => "MISSING_FIELD",
            ErrCode::InvalidField => "INVALID_FIELD",
            ErrCode::AlreadyInitialized => "ALREADY_INITIALIZED",
            ErrCode::NotInitialized => "NOT_INITIALIZED",
            ErrCode::LinkDown => "LINK_DOWN",
            ErrCode::Timeout => "TIMEOUT",
            ErrCode::Refused => "REFUSED",
            ErrCode::ImageTooLarge => "IMAGE_TOO_LARGE",
            ErrCode::ImageInvalid => "IMAGE_INVALID",
            ErrCode::Http => "HTTP",
            ErrCode::Storage => "STORAGE",
            ErrCode::OutboxFull => "OUTBOX_FULL",
            ErrCode::Internal => "INTERNAL",
            ErrCode::WrongThread => "WRONG_THREAD",
            ErrCode::Network => "NETWORK",
        }
    }
}

/// An error with its stable code and a message meant for the developer of the host program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: ErrCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn missing(field: &str) -> Error {
        Error::new(
            ErrCode::MissingField,
            format!("missing required field `{field}`"),
        )
    }

    pub fn invalid(field: &str, why: impl fmt::Display) -> Error {
        Error::new(ErrCode::InvalidField, format!("field `{field}` {why}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.name())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
