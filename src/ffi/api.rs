//! The modern C ABI: `bolink_*`, cdecl, UTF-8 JSON in and out.
//!
//! Every pointer argument must be NULL or valid for the call (a NUL-terminated string, or a
//! function and its `user_data`); that contract is stated once, in the header's API conventions.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use super::global::{self, DOWNSTREAM};
use super::{answer, guard, input, into_c};
use crate::error::ErrCode;

/// The version of this ABI. It grows when functions are added; a host can refuse a library older
/// than the one it was written for.
pub const BOLINK_ABI_VERSION: u32 = 1;

/// Receives one downstream message. `json` is a NUL-terminated UTF-8 JSON object, valid only
/// during the call; copy it to keep it. Called on the SDK's dispatcher thread, one message at a
/// time. The callback may call any bolink function except `bolink_uninit`.
pub type BolinkReceiveFn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, json: *const c_char)>;

/// Releases the `user_data` given with a callback.
pub type BolinkUserDataFreeFn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Starts the SDK: validates `config_json` (the vendor's init fields plus bolink's own, see the
/// README), opens the outbox and connects in the background. Never waits for the network.
///
/// Returns `{"state":1,...}` when the configuration was accepted, or an error naming the bad
/// field. A second init without `bolink_uninit` is refused with ALREADY_INITIALIZED.
/// The caller owns the returned string and must free it with `bolink_free_string`.
/// `config_json` may be freed as soon as the call returns. NULL gives NULL_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bolink_init(config_json: *const c_char) -> *mut c_char {
    answer(|| global::init(unsafe { input(config_json, "config_json") }?))
}

/// Stops the SDK: logs out, ends its threads. Messages not yet delivered stay in the outbox for
/// the next init. May be called any number of times; init may follow again.
/// It waits for work in progress to end: a connection attempt (at most `connect_timeout_ms`) or
/// an image post (at most `sync_timeout_ms`). Not allowed from the receive callback
/// (WRONG_THREAD).
/// The caller owns the returned string and must free it with `bolink_free_string`.
#[unsafe(no_mangle)]
pub extern "C" fn bolink_uninit() -> *mut c_char {
    answer(global::uninit)
}

/// 2.1: a vehicle entered. `json` holds the entry's fields. The entry is validated, committed to
/// the outbox and sent on every link in the background; the answer comes at once.
/// The caller owns the returned string and must free it with `bolink_free_string`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bolink_upload_in_park_order(json: *const c_char) -> *mut c_char {
    answer(|| {
        let text = unsafe { input(json, "json") }?;
        global::with_client_for(text, |c| c.upload_in_park(text))
    })
}

/// 2.2: a vehicle left. As `bolink_upload_in_park_order`; the result of an electronic payment
/// arrives later through the receiver (3.4 `outpark`).
/// The caller owns the returned string and must free it with `bolink_free_string`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bolink_upload_out_park_order(json: *const c_char) -> *mut c_char {
    answer(|| {
        let text = unsafe { input(json, "json") }?;
        global::with_client_for(text, |c| c.upload_out_park(text))
    })
}

/// 4.1: whether `car_number` can pay password-free (from the balances the cloud pushed) and
/// whether the payment link is up (`net_status`). Answered locally, at once. The answer also
/// carries `sdk`: the links' state and the outbox, as `bolink_status`.
/// The caller owns the returned string and must free it with `bolink_free_string`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bolink_get_pay_status(json: *const c_char) -> *mut c_char {
    answer(|| {
        let text = unsafe { input(json, "json") }?;
        global::with_client_for(text, |c| c.pay_status(text))
    })
}

/// Every other upstream message (`service_name` and `data_target` at the top), and every reply
/// to a downstream message. Committed to the outbox and answered at once, except the calls the
/// protocol answers synchronously (images 2.12, 2.28, 2.29, 2.33) and all calls when
/// `set_params.fast` is on, which wait for the server's answer.
/// The caller owns the returned string and must free it with `bolink_free_string`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bolink_upload_data(json: *const c_char) -> *mut c_char {
    answer(|| {
        let text = unsafe { input(json, "json") }?;
        global::with_client_for(text, |c| c.upload_data(text))
    })
}

/// As `bolink_upload_data`, but waits up to `timeout_ms` for the server's answer and returns
/// it. On TIMEOUT the message stays in the outbox and its answer later reaches the receiver.
/// The caller owns the returned string and must free it with `bolink_free_string`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bolink_upload_data_sync(
    json: *const c_char,
    timeout_ms: u32,
) -> *mut c_char {
    answer(|| {
        let text = unsafe { input(json, "json") }?;
        global::with_client_for(text, |c| {
            c.upload_data_sync(text, Duration::from_millis(timeout_ms.into()))
        })
    })
}

/// The SDK's state as JSON: version, links (`logged_in`, `last_error`), outbox (`pending`,
/// `oldest_age_ms`, `rejected`, `persistent`, `warning`) and messages waiting for the host.
/// The caller owns the returned string and must free it with `bolink_free_string`.
#[unsafe(no_mangle)]
pub extern "C" fn bolink_status() -> *mut c_char {
    answer(|| {
        global::with_client(|c| {
            let mut status = c.status();
            status["state"] = 1.into();
            Ok(status)
        })
    })
}

struct HostReceiver {
    callback: unsafe extern "C" fn(*mut c_void, *const c_char),
    user_data: *mut c_void,
    user_data_free: BolinkUserDataFreeFn,
}

// SAFETY: the header tells the host that the callback and `user_data` are used from the SDK's
// dispatcher thread; handing them over is the host's promise that this is allowed.
unsafe impl Send for HostReceiver {}
unsafe impl Sync for HostReceiver {}

impl HostReceiver {
    fn call(&self, message: &str) {
        let text = CString::new(message).unwrap_or_default();
        // SAFETY: the host registered this function and its `user_data` for exactly this use.
        unsafe { (self.callback)(self.user_data, text.as_ptr()) };
    }
}

impl Drop for HostReceiver {
    fn drop(&mut self) {
        if let Some(free) = self.user_data_free {
            // SAFETY: runs once, after the last call of the callback, as the header promises.
            unsafe { free(self.user_data) };
        }
    }
}

/// Registers the receiver of downstream messages, replacing any earlier one (whose
/// `user_data_free` runs after its last call). Callbacks run one at a time on the SDK's
/// dispatcher thread, never on the thread that registered them. A NULL `callback` switches back
/// to `bolink_poll_message`.
///
/// The library takes `user_data` in every case: `user_data_free` (may be NULL) is called exactly
/// once with it, after the last call of `callback`, or at once when `callback` is NULL.
/// May be called before `bolink_init`; the receiver stays registered across uninit and init.
/// Returns 0 (BOLINK_OK).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bolink_set_receive_callback(
    callback: BolinkReceiveFn,
    user_data: *mut c_void,
    user_data_free: BolinkUserDataFreeFn,
) -> i32 {
    guard(ErrCode::Internal as i32, || {
        let receiver = callback.map(|callback| HostReceiver {
            callback,
            user_data,
            user_data_free,
        });
        match receiver {
            Some(receiver) => DOWNSTREAM.set_receiver(Some(Arc::new(move |message: &str| {
                receiver.call(message);
            }))),
            None => {
                DOWNSTREAM.set_receiver(None);
                if let Some(free) = user_data_free {
                    // SAFETY: the host handed `user_data` over with this function.
                    unsafe { free(user_data) };
                }
            }
        }
        ErrCode::Ok as i32
    })
}

/// Takes the next downstream message when no callback is registered, waiting up to `timeout_ms`
/// (0: do not wait). Returns NULL when there is none (or a callback takes the messages).
/// Works before `bolink_init` and after `bolink_uninit` for messages already received.
/// The caller owns the returned string and must free it with `bolink_free_string`.
#[unsafe(no_mangle)]
pub extern "C" fn bolink_poll_message(timeout_ms: u32) -> *mut c_char {
    guard(std::ptr::null_mut(), || {
        match DOWNSTREAM.poll(Duration::from_millis(timeout_ms.into())) {
            Some(message) => into_c(message),
            None => std::ptr::null_mut(),
        }
    })
}

/// Frees a string returned by any `bolink_*` function. NULL is fine. Must not be called twice
/// with the same pointer, nor with a string from elsewhere.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bolink_free_string(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: the pointer came from `CString::into_raw` in this library.
        guard((), || drop(unsafe { CString::from_raw(s) }));
    }
}

/// The library's version and build, e.g. "bolink 0.1.0 (x86_64-unknown-linux-gnu)"; a Windows
/// build also names the Windows versions it runs on, e.g. "bolink 0.1.0 (i686-pc-windows-gnu;
/// Windows 10 / Server 2016 or later)". Static: do not free.
#[unsafe(no_mangle)]
pub extern "C" fn bolink_version() -> *const c_char {
    concat!(
        "bolink ",
        env!("CARGO_PKG_VERSION"),
        " (",
        env!("BOLINK_TARGET"),
        env!("BOLINK_PLATFORMS"),
        ")\0"
    )
    .as_ptr()
    .cast()
}

/// The ABI version, `BOLINK_ABI_VERSION` of the header the library was built with.
#[unsafe(no_mangle)]
pub extern "C" fn bolink_abi_version() -> u32 {
    BOLINK_ABI_VERSION
}
