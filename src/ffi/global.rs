//! The process-wide SDK behind the C, compat and Java exports: one at a time, as the vendor's.

use std::sync::{Arc, LazyLock, Mutex};

use serde_json::Value;

use crate::client::Client;
use crate::dispatch::Downstream;
use crate::error::{ErrCode, Error, Result};

static SDK: Mutex<Option<Arc<Client>>> = Mutex::new(None);

/// The downstream queue and receiver outlive init/uninit: a receiver registered before `init`
/// is used by it, and messages not yet taken at `uninit` wait for the next `init`.
pub static DOWNSTREAM: LazyLock<Arc<Downstream>> = LazyLock::new(Downstream::new);

/// Starts the SDK.
pub fn init(config_json: &str) -> Result<Value> {
    let mut sdk = SDK.lock().unwrap_or_else(|e| e.into_inner());
    if sdk.is_some() {
        // Bad input is named first, whatever the state.
        crate::fields::parse_object(config_json)?;
        return Err(Error::new(
            ErrCode::AlreadyInitialized,
            "sdk has been initialized! call uninit first",
        ));
    }
    let client = Client::start(config_json, Arc::clone(&DOWNSTREAM))?;
    let mut answer =
        serde_json::json!({"state": 1, "errmsg": "init success, connecting in the background"});
    // The SDK runs, but the host must learn that what it hands over is not on disk.
    if let Some(problem) = client.shared().outbox.problem() {
        answer["warning"] = problem.into();
    }
    *sdk = Some(Arc::new(client));
    Ok(answer)
}

/// Stops the SDK. Not allowed from the receive callback, which runs on a thread it must join.
pub fn uninit() -> Result<Value> {
    if DOWNSTREAM.on_dispatcher_thread() {
        return Err(Error::new(
            ErrCode::WrongThread,
            "uninit cannot be called from the receive callback; call it from another thread",
        ));
    }
    let client = SDK.lock().unwrap_or_else(|e| e.into_inner()).take();
    match client {
        Some(client) => {
            client.stop();
            Ok(serde_json::json!({"state": 1, "errmsg": "uninit success"}))
        }
        None => Err(Error::new(
            ErrCode::NotInitialized,
            "the SDK is not initialized",
        )),
    }
}

/// Runs a call on the running SDK.
pub fn with_client<T>(call: impl FnOnce(&Client) -> Result<T>) -> Result<T> {
    with_client_or(call, || Ok(()))
}

/// Runs a call that takes the host's JSON `text` on the running SDK. Before init, malformed
/// input is still reported as such rather than as NOT_INITIALIZED: every layer (C, compat, Java)
/// names bad input first.
pub fn with_client_for<T>(text: &str, call: impl FnOnce(&Client) -> Result<T>) -> Result<T> {
    with_client_or(call, || crate::fields::parse_object(text).map(drop))
}

fn with_client_or<T>(
    call: impl FnOnce(&Client) -> Result<T>,
    check_input: impl FnOnce() -> Result<()>,
) -> Result<T> {
    let client = SDK.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match client {
        Some(client) => call(&client),
        None => {
            check_input()?;
            Err(Error::new(
                ErrCode::NotInitialized,
                "the SDK is not initialized; call init first",
            ))
        }
    }
}
