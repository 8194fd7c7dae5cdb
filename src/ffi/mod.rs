//! The C ABI. This layer only converts: it checks pointers and text, calls the client, and turns
//! the result into an owned JSON string. No panic crosses it.

pub mod api;
pub mod compat;
pub mod global;
pub mod jni;

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::{Value, json};

use crate::error::{ErrCode, Error, Result};
use crate::sign;

/// The largest input string accepted (a 150 KB image is about 200 KB of Base64).
pub const BOLINK_MAX_INPUT_BYTES: usize = 8 * 1024 * 1024;

/// Reads a host string: not NULL, not too large, UTF-8.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid during the call.
pub(crate) unsafe fn input<'a>(ptr: *const c_char, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::new(ErrCode::NullArgument, format!("{what} is NULL")));
    }
    // SAFETY: the caller promises a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    if bytes.len() > BOLINK_MAX_INPUT_BYTES {
        return Err(Error::new(
            ErrCode::InputTooLarge,
            format!(
                "{what} is {} bytes; at most {BOLINK_MAX_INPUT_BYTES} are accepted",
                bytes.len()
            ),
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        Error::new(
            ErrCode::InvalidUtf8,
            format!(
                "{what} is not UTF-8 (invalid byte at offset {}); bolink takes UTF-8 text only, \
                 convert GBK/ANSI strings before calling",
                e.valid_up_to()
            ),
        )
    })
}

/// The JSON answer for a result: success gets `errcode` 0 (or REFUSED when the server said
/// `state` 0), failure gets `{"state":0,"errcode":N,"errmsg":...}`.
pub(crate) fn answer_json(result: Result<Value>) -> String {
    let value = match result {
        Ok(Value::Object(mut map)) => {
            if !map.contains_key("errcode") {
                let refused = map.get("state").and_then(Value::as_i64) == Some(0);
                let code = if refused {
                    ErrCode::Refused
                } else {
                    ErrCode::Ok
                };
                map.insert("errcode".into(), (code as i32).into());
            }
            Value::Object(map)
        }
        Ok(other) => {
            json!({"state": 0, "errcode": ErrCode::Internal as i32, "errmsg": format!("unexpected answer {other}")})
        }
        Err(e) => json!({"state": 0, "errcode": e.code as i32, "errmsg": e.message}),
    };
    sign::compact(&value)
}

/// Runs an export body: panics become INTERNAL errors, the answer becomes an owned C string.
pub(crate) fn answer(body: impl FnOnce() -> Result<Value>) -> *mut c_char {
    let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        tracing::error!("a bug inside bolink was caught at the C boundary");
        Err(Error::new(
            ErrCode::Internal,
            "internal error in bolink (caught; see the log)",
        ))
    });
    into_c(answer_json(result))
}

/// Hands a Rust string to the host; the host frees it with `bolink_free_string`.
pub(crate) fn into_c(text: String) -> *mut c_char {
    let text = CString::new(text).unwrap_or_else(|e| {
        CString::new(
            e.into_vec()
                .into_iter()
                .filter(|b| *b != 0)
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default()
    });
    text.into_raw()
}

/// Runs an export body that returns a plain value; a panic gives `fallback`.
pub(crate) fn guard<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}
