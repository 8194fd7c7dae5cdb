//! The natives of `sdk.UploadUtilNative` (bindings/java), so Java billing software written for the
//! vendor's `sdk.UploadUtil` runs on this library unchanged.
//!
//! Each native takes the JSON text as a `java.lang.String` and returns the same JSON answer the
//! C API gives. A null string is answered with NULL_ARGUMENT, never an exception.
//!
//! Downstream messages reach Java through the vendor's path: the SDK's dispatcher thread calls
//! the package-private static `sdk.InterfacePark.callBack(InterfacePark, String)`, which calls
//! `receive`. That thread is attached to the JVM once, as a daemon (so it never holds the JVM
//! open), and stays attached until it ends at uninit. An exception thrown by `receive` is printed
//! with its stack trace, cleared and logged; the SDK carries on with the next message.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use jni::JNIEnv;
use jni::JavaVM;
use jni::objects::{GlobalRef, JClass, JObject, JStaticMethodID, JString, JValue};
use jni::signature::{Primitive, ReturnType};
use jni::sys::{jstring, jvalue};
use serde_json::Value;

use super::global::{self, DOWNSTREAM};
use super::{BOLINK_MAX_INPUT_BYTES, answer_json, guard};
use crate::error::{ErrCode, Error, Result};

/// The class the dispatcher calls into, and its static entry point.
const INTERFACE_PARK: &str = "sdk/InterfacePark";
const CALL_BACK: &str = "callBack";
const CALL_BACK_SIG: &str = "(Lsdk/InterfacePark;Ljava/lang/String;)V";

/// The dispatcher thread's name as Java sees it.
const DISPATCH_THREAD_NAME: &str = "bolink-dispatch";

/// Reads a Java string argument as UTF-8 text.
fn read_text(env: &mut JNIEnv, json: &JString) -> Result<String> {
    if json.is_null() {
        return Err(Error::new(ErrCode::NullArgument, "strJsonData is null"));
    }
    let text: String = env
        .get_string(json)
        .map_err(|e| {
            Error::new(
                ErrCode::Internal,
                format!("cannot read the Java string: {e}"),
            )
        })?
        .into();
    if text.len() > BOLINK_MAX_INPUT_BYTES {
        return Err(Error::new(
            ErrCode::InputTooLarge,
            format!(
                "strJsonData is {} bytes; at most {BOLINK_MAX_INPUT_BYTES} are accepted",
                text.len()
            ),
        ));
    }
    Ok(text)
}

/// Runs a native body: reads the argument, calls the SDK, returns the JSON answer as a new Java
/// string. Panics become INTERNAL answers; only a JVM out of memory gives null.
fn java_answer(
    env: &mut JNIEnv,
    json: Option<&JString>,
    call: impl FnOnce(&str) -> Result<Value>,
) -> jstring {
    let text = catch_unwind(AssertUnwindSafe(|| {
        let result = match json {
            Some(json) => read_text(env, json).and_then(|text| call(&text)),
            None => call(""),
        };
        answer_json(result)
    }))
    .unwrap_or_else(|_| {
        tracing::error!("a bug inside bolink was caught at the Java boundary");
        answer_json(Err(Error::new(
            ErrCode::Internal,
            "internal error in bolink (caught; see the log)",
        )))
    });
    match env.new_string(text) {
        Ok(answer) => answer.into_raw(),
        // An OutOfMemoryError is pending and reaches the Java caller.
        Err(_) => std::ptr::null_mut(),
    }
}

/// `String jni_Init(String)`: starts the SDK, as `bolink_init`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_sdk_UploadUtilNative_jni_1Init<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    json: JString<'l>,
) -> jstring {
    java_answer(&mut env, Some(&json), global::init)
}

/// `String jni_UnInit()`: stops the SDK, as `bolink_uninit` (refused inside `receive`).
#[unsafe(no_mangle)]
pub extern "system" fn Java_sdk_UploadUtilNative_jni_1UnInit<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
) -> jstring {
    java_answer(&mut env, None, |_| global::uninit())
}

/// `String jni_UploadInParkOrder(String)`: 2.1 vehicle entry.
#[unsafe(no_mangle)]
pub extern "system" fn Java_sdk_UploadUtilNative_jni_1UploadInParkOrder<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    json: JString<'l>,
) -> jstring {
    java_answer(&mut env, Some(&json), |text| {
        global::with_client_for(text, |c| c.upload_in_park(text))
    })
}

/// `String jni_UploadOutParkOrder(String)`: 2.2 vehicle exit.
#[unsafe(no_mangle)]
pub extern "system" fn Java_sdk_UploadUtilNative_jni_1UploadOutParkOrder<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    json: JString<'l>,
) -> jstring {
    java_answer(&mut env, Some(&json), |text| {
        global::with_client_for(text, |c| c.upload_out_park(text))
    })
}

/// `String jni_GetPayStatus(String)`: 4.1 payment status and link state.
#[unsafe(no_mangle)]
pub extern "system" fn Java_sdk_UploadUtilNative_jni_1GetPayStatus<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    json: JString<'l>,
) -> jstring {
    java_answer(&mut env, Some(&json), |text| {
        global::with_client_for(text, |c| c.pay_status(text))
    })
}

/// `String jni_UploadData(String)`: every other upstream message and every reply.
#[unsafe(no_mangle)]
pub extern "system" fn Java_sdk_UploadUtilNative_jni_1UploadData<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    json: JString<'l>,
) -> jstring {
    java_answer(&mut env, Some(&json), |text| {
        global::with_client_for(text, |c| c.upload_data(text))
    })
}

/// `String jni_UploadDataSync(String)`: as `jni_UploadData`, waiting for the server's answer up
/// to the configured `sync_timeout_ms`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_sdk_UploadUtilNative_jni_1UploadDataSync<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    json: JString<'l>,
) -> jstring {
    java_answer(&mut env, Some(&json), |text| {
        global::with_client_for(text, |c| {
            c.upload_data_sync(text, c.shared().config.sync_timeout)
        })
    })
}

/// `void jni_SetInterfacePark(InterfacePark)`: registers the receiver, replacing any earlier one
/// (whose global reference is released after its last call). Null unregisters; messages then
/// wait for the next receiver. When the receiver cannot be set up, a Java exception is left
/// pending for the caller.
#[unsafe(no_mangle)]
pub extern "system" fn Java_sdk_UploadUtilNative_jni_1SetInterfacePark<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    park: JObject<'l>,
) {
    guard((), || {
        if park.is_null() {
            DOWNSTREAM.set_receiver(None);
            return;
        }
        match JavaReceiver::new(&mut env, &park) {
            Ok(receiver) => DOWNSTREAM.set_receiver(Some(Arc::new(move |message: &str| {
                receiver.deliver(message)
            }))),
            Err(e) => tracing::error!("setInterfacePark failed, the receiver is unchanged: {e}"),
        }
    })
}

/// A registered `InterfacePark`, with what the dispatcher thread needs to call it.
struct JavaReceiver {
    vm: JavaVM,
    park: GlobalRef,
    class: GlobalRef,
    call_back: JStaticMethodID,
}

impl JavaReceiver {
    /// Runs on the Java thread that registers the receiver, so the class is found by the loader
    /// that loaded the SDK's classes.
    fn new(env: &mut JNIEnv, park: &JObject) -> jni::errors::Result<JavaReceiver> {
        let vm = env.get_java_vm()?;
        let park = env.new_global_ref(park)?;
        let class = env.find_class(INTERFACE_PARK)?;
        let call_back = env.get_static_method_id(&class, CALL_BACK, CALL_BACK_SIG)?;
        let class = env.new_global_ref(class)?;
        Ok(JavaReceiver {
            vm,
            park,
            class,
            call_back,
        })
    }

    /// Hands one message to `InterfacePark.callBack` on the current (dispatcher) thread.
    fn deliver(&self, message: &str) {
        let newly_attached = self.vm.get_env().is_err();
        let mut env = match self.vm.attach_current_thread_as_daemon() {
            Ok(env) => env,
            Err(e) => {
                tracing::error!("cannot attach the dispatcher thread to the JVM: {e}");
                return;
            }
        };
        if newly_attached {
            name_java_thread(&mut env);
        }

        // The thread stays attached and never returns to Java, so its local references would
        // pile up; a frame per message releases them.
        let outcome = env.with_local_frame(4, |env| -> jni::errors::Result<()> {
            let text = env.new_string(message)?;
            let class: &JClass = self.class.as_obj().into();
            let args = [
                jvalue {
                    l: self.park.as_obj().as_raw(),
                },
                jvalue { l: text.as_raw() },
            ];
            // SAFETY: the method id was looked up on this class with this exact signature, and
            // the arguments are an InterfacePark and a String.
            let called = unsafe {
                env.call_static_method_unchecked(
                    class,
                    self.call_back,
                    ReturnType::Primitive(Primitive::Void),
                    &args,
                )
            };
            if env.exception_check()? {
                tracing::error!(
                    "InterfacePark.receive threw an exception; it was cleared and the message \
                     counts as handed over"
                );
                env.exception_describe()?;
                env.exception_clear()?;
                return Ok(());
            }
            called.map(drop)
        });
        if let Err(e) = outcome {
            tracing::error!("cannot hand a downstream message to Java: {e}");
        }
    }
}

/// Names the freshly attached dispatcher thread in Java, so stack traces printed for an
/// exception in `receive` say where it ran instead of "Thread-0".
fn name_java_thread(env: &mut JNIEnv) {
    let named = env.with_local_frame(4, |env| -> jni::errors::Result<()> {
        let thread = env
            .call_static_method(
                "java/lang/Thread",
                "currentThread",
                "()Ljava/lang/Thread;",
                &[],
            )?
            .l()?;
        let name = env.new_string(DISPATCH_THREAD_NAME)?;
        env.call_method(
            &thread,
            "setName",
            "(Ljava/lang/String;)V",
            &[JValue::Object(&name)],
        )?;
        Ok(())
    });
    if named.is_err() {
        // Only a cosmetic step failed; the thread works all the same.
        if env.exception_check().unwrap_or(false) {
            let _ = env.exception_clear();
        }
    }
}
