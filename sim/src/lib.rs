//! bolink-sim: a local Bolink parking cloud.
//!
//! The simulator plays both back ends a park's billing system talks to: the parking cloud
//! (停车云) and bolink (泊链). It listens on two TCP ports that speak the SDK link (login,
//! heartbeat, signed and tokened messages, answers, downstream pushes) and on one HTTP port that
//! takes vehicle images, shows a web page of what arrived and offers a small control API.
//!
//! Everything it receives is recorded in order, so a test can start a [`Sim`], drive a client
//! against it, then look at [`Sim::received`] or block in [`Sim::wait_for`]. Downstream messages
//! are sent with [`Sim::push`]. Failures are staged with [`Sim::set_drop_every`],
//! [`Sim::set_accepting`] and [`Sim::drop_connections`].
//!
//! All methods of [`Sim`] are synchronous and may be called from any thread; the network side
//! runs on a tokio runtime in a background thread of its own.

mod http;
mod link;
mod page;
pub mod picture;
mod route;
mod sign;
mod state;
mod tcp;
mod token;
mod upload;
mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::sync::oneshot;

pub use link::ECHOED_KEYS;
pub use sign::sign;

use state::Shared;

/// One park the simulator knows.
#[derive(Clone, Debug)]
pub struct Park {
    pub union_id: String,
    pub park_id: String,
    /// Vendor secret: signs the bolink link, and the cloud link in 4.x mode.
    pub ukey: String,
    /// Per-park cloud secret (legacy mode). When set, a cloud login signed with it is accepted
    /// as well as one signed with `ukey`.
    pub ckey: Option<String>,
}

impl Park {
    /// A park without a cloud secret (4.x mode: everything is signed with `ukey`).
    pub fn new(union_id: &str, park_id: &str, ukey: &str) -> Park {
        Park {
            union_id: union_id.to_owned(),
            park_id: park_id.to_owned(),
            ukey: ukey.to_owned(),
            ckey: None,
        }
    }

    /// The same park with a cloud secret for legacy-mode cloud logins.
    pub fn with_ckey(mut self, ckey: &str) -> Park {
        self.ckey = Some(ckey.to_owned());
        self
    }
}

/// How the simulator is set up.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub parks: Vec<Park>,
    /// Cloud TCP listener (port 0: any free port).
    pub cloud_addr: SocketAddr,
    /// Bolink TCP listener for legacy mode (port 0: any free port).
    pub bolink_addr: SocketAddr,
    /// HTTP: image upload, web page, control API.
    pub http_addr: SocketAddr,
    /// Messages per 10 s per token before `request_over_times`; `None`: no limit.
    pub rate_limit_per_10s: Option<u32>,
    /// Maximum decoded image size in bytes.
    pub max_image_bytes: usize,
    /// How long images are kept.
    pub image_retention: Duration,
    /// When set, the simulator pushes a `query_price` for every `in_park` it accepts.
    pub auto_query_price: bool,
    /// When set, written right after every successful login answer, in the same write: the
    /// cloud may push as soon as a park is online, and a client must not lose what arrives with
    /// its login answer.
    pub login_greeting: Option<Value>,
}

impl Default for SimConfig {
    /// No parks, every listener on a free loopback port, the real cloud's limits (100 messages
    /// per 10 s, 150 KiB images kept 30 days), no automatic price queries.
    fn default() -> Self {
        let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        SimConfig {
            parks: Vec::new(),
            cloud_addr: any_port,
            bolink_addr: any_port,
            http_addr: any_port,
            rate_limit_per_10s: Some(100),
            max_image_bytes: 150 * 1024,
            image_retention: Duration::from_secs(30 * 24 * 60 * 60),
            auto_query_price: false,
            login_greeting: None,
        }
    }
}

/// Which listener a message came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Cloud,
    Bolink,
}

impl LinkKind {
    /// `"cloud"` or `"bolink"`, as the control API and the web page spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Cloud => "cloud",
            LinkKind::Bolink => "bolink",
        }
    }
}

/// One line the simulator received and parsed (heartbeats are not recorded).
///
/// Image uploads over HTTP are recorded here too, as `upload_carpic` on the cloud link, with
/// `content` replaced by `content_len` (its length in characters) in both `data` and `raw`.
#[derive(Clone, Debug)]
pub struct Received {
    pub seq: u64,
    pub at: SystemTime,
    pub link: LinkKind,
    pub park_id: Option<String>,
    pub service_name: String,
    /// The `data` object as received.
    pub data: Value,
    /// The whole line as received.
    pub raw: String,
    /// What the simulator answered, if it answered.
    pub answer: Option<Value>,
}

/// One downstream message the simulator sent (or tried to send) with [`Sim::push`] or on its
/// own (`auto_query_price`).
#[derive(Clone, Debug)]
pub struct Pushed {
    pub seq: u64,
    pub at: SystemTime,
    pub park_id: String,
    pub message: Value,
    /// How many sessions it was written to.
    pub sessions: usize,
}

/// One logged-in session, as seen from outside.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    pub link: LinkKind,
    pub park_id: String,
    /// `data.local_id` of the login, when it had one.
    pub local_id: Option<String>,
    /// `data.set_params` of the login, when it had one.
    pub set_params: Option<Value>,
}

/// One stored image.
#[derive(Clone, Debug)]
pub struct StoredImage {
    pub id: u64,
    pub park_id: String,
    pub order_id: Option<String>,
    pub picture_source: String,
    pub park_order_type: Option<String>,
    pub liftrod_id: Option<String>,
    pub event_id: Option<String>,
    pub uuid: Option<String>,
    pub pic_type: String,
    pub bytes: Vec<u8>,
    pub received_at: SystemTime,
}

/// A running simulator. Dropping it stops it: the listeners and every connection are closed
/// before `drop` returns.
pub struct Sim {
    shared: Arc<Shared>,
    cloud_port: u16,
    bolink_port: u16,
    http_port: u16,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Sim {
    /// Binds the three listeners and starts serving them on a background thread. Returns once
    /// all three are bound, so the ports can be used right away.
    pub fn start(config: SimConfig) -> std::io::Result<Sim> {
        let cloud = bind(config.cloud_addr)?;
        let bolink = bind(config.bolink_addr)?;
        let http = bind(config.http_addr)?;
        let cloud_port = cloud.local_addr()?.port();
        let bolink_port = bolink.local_addr()?.port();
        let http_port = http.local_addr()?.port();

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bolink-sim-worker")
            .enable_all()
            .build()?;

        // Registering the listeners needs the runtime's reactor; doing it here, on the caller's
        // thread, lets a failure reach the caller.
        let (cloud, bolink, http) = {
            let _context = runtime.enter();
            (
                tokio::net::TcpListener::from_std(cloud)?,
                tokio::net::TcpListener::from_std(bolink)?,
                tokio::net::TcpListener::from_std(http)?,
            )
        };

        let shared = Arc::new(Shared::new(config));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("bolink-sim".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(tcp::serve(cloud, LinkKind::Cloud, serving.clone()));
                    tokio::spawn(tcp::serve(bolink, LinkKind::Bolink, serving.clone()));
                    tokio::spawn(http::serve(http, serving));
                    let _ = stopped.await;
                });

                // Dropping the tasks drops their sockets, which closes every connection.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;

        Ok(Sim {
            shared,
            cloud_port,
            bolink_port,
            http_port,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The port of the cloud TCP listener.
    pub fn cloud_port(&self) -> u16 {
        self.cloud_port
    }

    /// The port of the bolink TCP listener.
    pub fn bolink_port(&self) -> u16 {
        self.bolink_port
    }

    /// The port of the HTTP listener (images, web page, control API).
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// Everything received so far, in order (`seq` counts from 1).
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// What was received after the record numbered `after_seq` (0: everything).
    pub fn received_since(&self, after_seq: u64) -> Vec<Received> {
        let state = self.shared.lock();
        let start = usize::try_from(after_seq)
            .unwrap_or(usize::MAX)
            .min(state.received.len());
        state.received[start..].to_vec()
    }

    /// The first record, from the beginning, that satisfies `pred`; waits up to `timeout` for
    /// one to arrive. `None` when none did.
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        self.shared.wait_for(timeout, pred)
    }

    /// Sends `message` downstream to the park's logged-in sessions and returns how many sessions
    /// it was written to. Payment messages go to the bolink sessions when the park has any, the
    /// rest to the cloud sessions; a message naming a lane goes to the sessions whose `local_id`
    /// lists that lane (`..._channels_A1_A2`) when there are such. The push is recorded in
    /// [`Sim::pushed`], also when it reached nobody.
    pub fn push(&self, park_id: &str, message: &Value) -> usize {
        self.shared.update(|state| state.push(park_id, message))
    }

    /// Every downstream message sent so far, in order.
    pub fn pushed(&self) -> Vec<Pushed> {
        self.shared.lock().pushed.clone()
    }

    /// What was pushed after the push numbered `after_seq` (0: everything).
    pub fn pushed_since(&self, after_seq: u64) -> Vec<Pushed> {
        let state = self.shared.lock();
        let start = usize::try_from(after_seq)
            .unwrap_or(usize::MAX)
            .min(state.pushed.len());
        state.pushed[start..].to_vec()
    }

    /// How many live, logged-in sessions the park has, on both listeners together.
    pub fn logged_in(&self, park_id: &str) -> usize {
        self.shared.lock().logged_in(park_id)
    }

    /// The live, logged-in sessions of every park.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.lock().sessions()
    }

    /// Closes every live connection once; new connections are accepted as before.
    pub fn drop_connections(&self) {
        self.shared.update(|state| state.close_all());
    }

    /// `false`: closes every live connection and closes each new one right after accepting it.
    /// `true`: accepts connections again.
    pub fn set_accepting(&self, accepting: bool) {
        self.shared.update(|state| {
            state.accepting = accepting;
            if !accepting {
                state.close_all();
            }
        });
    }

    /// `Some(n)`: after every n-th recorded message (logins aside, counted across the whole
    /// simulator) the simulator processes and records the message, then closes that connection
    /// without answering, as if the link broke just after the cloud got it. `None`: off.
    pub fn set_drop_every(&self, n: Option<u32>) {
        self.shared.update(|state| {
            state.drop_every = n.filter(|n| *n > 0);
            state.dropped_count = 0;
        });
    }

    /// Refuses every later `service_name` message for good with `errmsg` (state 0), as the cloud
    /// does for a bad field; `None` accepts them again.
    pub fn set_refuse(&self, service_name: &str, errmsg: Option<&str>) {
        self.shared.update(|state| {
            match errmsg {
                Some(errmsg) => state
                    .refusals
                    .insert(service_name.to_string(), errmsg.to_string()),
                None => state.refusals.remove(service_name),
            };
        });
    }

    /// Takes every later `service_name` message without answering it (`false` answers again).
    pub fn set_silent(&self, service_name: &str, silent: bool) {
        self.shared.update(|state| {
            if silent {
                state.silent.insert(service_name.to_string());
            } else {
                state.silent.remove(service_name);
            }
        });
    }

    /// The stored images that are still within the retention time, oldest first.
    pub fn images(&self) -> Vec<StoredImage> {
        let mut state = self.shared.lock();
        state.prune_images(self.shared.config.image_retention);
        state.images.clone()
    }

    /// Stops the simulator; the same as dropping it.
    pub fn stop(self) {}
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.update(|state| state.forget_connections());
    }
}

/// A non-blocking std listener, ready to be handed to tokio.
fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
