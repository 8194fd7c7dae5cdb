//! Downstream delivery: messages for the host wait in a queue and are handed, one at a time, to
//! the receive callback on the SDK's dispatcher thread, or taken by `poll`.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

/// The host's receiver. Dropping the last reference releases the host's context (for the C API,
/// `user_data_free` runs then), so it runs once, after the last call.
pub type Receiver = Arc<dyn Fn(&str) + Send + Sync>;

/// How many messages may wait for a host that neither registered a callback nor polls.
const QUEUE_MAX: usize = 100_000;

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    receiver: Option<Receiver>,
    running: bool,
    dispatcher: Option<ThreadId>,
    delivered: u64,
}

/// The downstream queue and the receiver slot.
#[derive(Default)]
pub struct Downstream {
    state: Mutex<State>,
    changed: Condvar,
}

impl Downstream {
    pub fn new() -> Arc<Downstream> {
        Arc::new(Downstream::default())
    }

    /// Queues one message for the host.
    pub fn deliver(&self, message: String) {
        let mut state = self.lock();
        if state.queue.len() >= QUEUE_MAX {
            // The host stopped taking messages long ago; keep the newest, and say so.
            state.queue.pop_front();
            tracing::error!("downstream queue full ({QUEUE_MAX}); the oldest message was dropped");
        }
        state.queue.push_back(message);
        drop(state);
        self.changed.notify_all();
    }

    /// Replaces the receiver (`None` switches back to polling). The previous receiver is
    /// released after its last call has returned.
    pub fn set_receiver(&self, receiver: Option<Receiver>) {
        let old = std::mem::replace(&mut self.lock().receiver, receiver);
        self.changed.notify_all();
        drop(old);
    }

    /// Takes the next message when no receiver is registered, waiting up to `timeout`.
    pub fn poll(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if state.receiver.is_some() {
                return None;
            }
            if let Some(message) = state.queue.pop_front() {
                return Some(message);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Messages waiting for the host.
    pub fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    /// Messages handed to the receiver so far.
    pub fn delivered(&self) -> u64 {
        self.lock().delivered
    }

    /// Whether the current thread is the dispatcher thread (the receiver is running on it).
    pub fn on_dispatcher_thread(&self) -> bool {
        self.lock().dispatcher == Some(thread::current().id())
    }

    /// Starts the dispatcher thread.
    pub fn start(self: &Arc<Self>) -> std::io::Result<JoinHandle<()>> {
        self.lock().running = true;
        let this = Arc::clone(self);
        thread::Builder::new()
            .name("bolink-dispatch".into())
            .spawn(move || this.run())
    }

    /// Asks the dispatcher thread to end after the call in progress; join its handle after this.
    pub fn stop(&self) {
        self.lock().running = false;
        self.changed.notify_all();
    }

    fn run(&self) {
        self.lock().dispatcher = Some(thread::current().id());
        loop {
            let (receiver, message) = {
                let mut state = self.lock();
                loop {
                    if !state.running {
                        state.dispatcher = None;
                        return;
                    }
                    if state.receiver.is_some() && !state.queue.is_empty() {
                        break;
                    }
                    state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                let message = state.queue.pop_front().unwrap_or_default();
                state.delivered += 1;
                (
                    state
                        .receiver
                        .clone()
                        .unwrap_or_else(|| Arc::new(|_: &str| {})),
                    message,
                )
            };
            if catch_unwind(AssertUnwindSafe(|| receiver(&message))).is_err() {
                tracing::error!("the receive callback panicked; the message was handed over");
            }
            // Released here, outside the lock, so a replaced receiver is freed after its last call.
            drop(receiver);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
