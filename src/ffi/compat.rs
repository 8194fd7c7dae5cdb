//! The vendor's native exports, `UploadUtilNative_*`, so a host built for `SDK32.dll` or
//! `SDK64.dll` can load this library instead and keep its code.
//!
//! The signatures are the vendor's: `extern "system"` (stdcall on 32-bit Windows, the platform's
//! C convention elsewhere), UTF-8 JSON in, a `const char *` JSON answer out. The answer belongs to
//! the library and stays valid until the next `UploadUtilNative_*` call on the same thread; the
//! host copies it if it needs it longer and never frees it. The answers are the ones the modern
//! API gives (`state`, `errmsg`, and the extra `errcode`, which vendor hosts ignore).
//!
//! The declarations for C and C++ are in `include/bolink_compat.h`, written by hand because
//! cbindgen does not express stdcall.

#![allow(non_snake_case)]

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde_json::Value;

use super::global::{self, DOWNSTREAM};
use super::{answer_json, guard, input};
use crate::error::{ErrCode, Error, Result};

/// The vendor's receive callback: one downstream JSON message, valid during the call only.
type VendorReceiveFn = Option<unsafe extern "system" fn(json: *const c_char)>;

thread_local! {
    // One answer per thread: the vendor hands out pointers the host never frees, so the library
    // keeps each thread's latest answer alive until that thread calls again.
    static LAST_ANSWER: RefCell<CString> = RefCell::new(CString::default());
}

/// Runs an export body and parks its JSON answer in this thread's slot.
fn vendor_answer(body: impl FnOnce() -> Result<Value>) -> *const c_char {
    let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        tracing::error!("a bug inside bolink was caught at the vendor-compatible boundary");
        Err(Error::new(
            ErrCode::Internal,
            "internal error in bolink (caught; see the log)",
        ))
    });
    let text = answer_json(result);
    // The answer is compact JSON, in which a NUL can only appear escaped; the fallback keeps the
    // boundary total all the same.
    let text = CString::new(text).unwrap_or_else(|_| {
        CString::new(r#"{"state":0,"errcode":17,"errmsg":"internal error: NUL in answer"}"#)
            .unwrap_or_default()
    });
    LAST_ANSWER.with(|slot| {
        let mut slot = slot.borrow_mut();
        *slot = text;
        slot.as_ptr()
    })
}

/// Starts the SDK, as `bolink_init`. A second call without `UploadUtilNative_UnInit` answers
/// `{"state":0,"errmsg":"sdk has been initialized! ..."}`, as the vendor's DLL does.
/// The answer stays valid until the next `UploadUtilNative_*` call on this thread; do not free it.
///
/// # Safety
/// `json` is NULL or a NUL-terminated string valid for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn UploadUtilNative_Init(json: *const c_char) -> *const c_char {
    vendor_answer(|| global::init(unsafe { input(json, "strJsonData") }?))
}

/// Stops the SDK, as `bolink_uninit`. The vendor's signature returns nothing, so a refusal (for
/// example a call from inside the receive callback) is only written to the log.
#[unsafe(no_mangle)]
pub extern "system" fn UploadUtilNative_UnInit() {
    guard((), || {
        if let Err(e) = global::uninit() {
            if e.code != ErrCode::NotInitialized {
                tracing::warn!("UploadUtilNative_UnInit refused: {}", e.message);
            }
        }
    })
}

/// 2.1 vehicle entry, as `bolink_upload_in_park_order`.
/// The answer stays valid until the next `UploadUtilNative_*` call on this thread; do not free it.
///
/// # Safety
/// `json` is NULL or a NUL-terminated string valid for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn UploadUtilNative_UploadInParkOrder(
    json: *const c_char,
) -> *const c_char {
    vendor_answer(|| {
        let text = unsafe { input(json, "strJsonData") }?;
        global::with_client_for(text, |c| c.upload_in_park(text))
    })
}

/// 2.2 vehicle exit, as `bolink_upload_out_park_order`.
/// The answer stays valid until the next `UploadUtilNative_*` call on this thread; do not free it.
///
/// # Safety
/// `json` is NULL or a NUL-terminated string valid for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn UploadUtilNative_UploadOutParkOrder(
    json: *const c_char,
) -> *const c_char {
    vendor_answer(|| {
        let text = unsafe { input(json, "strJsonData") }?;
        global::with_client_for(text, |c| c.upload_out_park(text))
    })
}

/// 4.1 password-free payment status and link state, as `bolink_get_pay_status`.
/// The answer stays valid until the next `UploadUtilNative_*` call on this thread; do not free it.
///
/// # Safety
/// `json` is NULL or a NUL-terminated string valid for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn UploadUtilNative_GetPayStatus(json: *const c_char) -> *const c_char {
    vendor_answer(|| {
        let text = unsafe { input(json, "strJsonData") }?;
        global::with_client_for(text, |c| c.pay_status(text))
    })
}

/// Every other upstream message and every reply to a downstream message, as `bolink_upload_data`.
/// May be called from inside the receive callback.
/// The answer stays valid until the next `UploadUtilNative_*` call on this thread; do not free it.
///
/// # Safety
/// `json` is NULL or a NUL-terminated string valid for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn UploadUtilNative_UploadData(json: *const c_char) -> *const c_char {
    vendor_answer(|| {
        let text = unsafe { input(json, "strJsonData") }?;
        global::with_client_for(text, |c| c.upload_data(text))
    })
}

/// Registers the receiver of downstream messages, replacing any earlier one. The callback runs
/// on the SDK's dispatcher thread, one message at a time; its argument is valid during the call
/// only. NULL unregisters: messages then wait (for a later receiver, or `bolink_poll_message`).
/// The registration outlives `UploadUtilNative_UnInit`, as the vendor's does.
#[unsafe(no_mangle)]
pub extern "system" fn UploadUtilNative_SetReceiveData(callback: VendorReceiveFn) {
    guard((), || match callback {
        Some(callback) => DOWNSTREAM.set_receiver(Some(Arc::new(move |message: &str| {
            // A downstream message comes from parsed JSON, so it holds no raw NUL.
            let text = CString::new(message).unwrap_or_default();
            // SAFETY: the host registered this function to receive exactly this argument.
            unsafe { callback(text.as_ptr()) };
        }))),
        None => DOWNSTREAM.set_receiver(None),
    })
}
