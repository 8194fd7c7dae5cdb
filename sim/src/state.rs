//! What the simulator holds between messages: the record of everything received and pushed,
//! the live connections and their sessions, and the stored images.
//!
//! One std mutex guards it all, so the synchronous [`Sim`](crate::Sim) methods and the async
//! connection tasks see one consistent state; nobody holds it across an `.await`. A condvar
//! wakes [`Sim::wait_for`](crate::Sim::wait_for) callers on every change.
//!
//! Nothing is ever removed from the records: a simulator is meant to run for a test or a demo,
//! not for months.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use crate::{LinkKind, Pushed, Received, SessionInfo, SimConfig, StoredImage, route, wire};

/// What a connection task is asked to do from outside.
pub(crate) enum Downstream {
    /// Write these bytes (a framed message).
    Line(Vec<u8>),
    /// Close the connection now.
    Close,
}

/// A logged-in session: what its login established.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) token: String,
    /// The secret whose sign the login carried; every later message must be signed with it.
    pub(crate) key: String,
    pub(crate) park_id: String,
    pub(crate) link: LinkKind,
    pub(crate) local_id: Option<String>,
    pub(crate) lanes: Option<Vec<String>>,
    pub(crate) set_params: Option<Value>,
}

/// One live TCP connection.
struct Conn {
    outbox: UnboundedSender<Downstream>,
    session: Option<Session>,
}

/// The fields of a record other than those the state fills in.
pub(crate) struct Record {
    pub(crate) link: LinkKind,
    pub(crate) park_id: Option<String>,
    pub(crate) service_name: String,
    pub(crate) data: Value,
    pub(crate) raw: String,
    pub(crate) answer: Option<Value>,
}

/// Everything behind the mutex.
pub(crate) struct State {
    pub(crate) received: Vec<Received>,
    pub(crate) pushed: Vec<Pushed>,
    /// Oldest first.
    pub(crate) images: Vec<StoredImage>,
    pub(crate) accepting: bool,
    pub(crate) drop_every: Option<u32>,
    /// Services refused for good with the given `errmsg` (set with `Sim::set_refuse`).
    pub(crate) refusals: HashMap<String, String>,
    /// Services taken without any answer (set with `Sim::set_silent`).
    pub(crate) silent: HashSet<String>,
    /// Messages counted towards `drop_every` since it was last set.
    pub(crate) dropped_count: u64,
    next_image_id: u64,
    next_conn_id: u64,
    next_query_no: u64,
    /// Ordered by id, so pushes reach sessions in the order they connected.
    conns: BTreeMap<u64, Conn>,
    /// (park_id, sign) of every accepted message that duplicates are checked for.
    processed_signs: HashSet<(String, String)>,
    /// (park_id, order_id) of every accepted entry.
    entered_orders: HashSet<(String, String)>,
    /// (park_id, service_name) of every push, to tell replies from uploads of the same name.
    pushed_services: HashSet<(String, String)>,
}

impl State {
    fn new() -> State {
        State {
            received: Vec::new(),
            pushed: Vec::new(),
            images: Vec::new(),
            accepting: true,
            drop_every: None,
            refusals: HashMap::new(),
            silent: HashSet::new(),
            dropped_count: 0,
            next_image_id: 1,
            next_conn_id: 1,
            next_query_no: 1,
            conns: BTreeMap::new(),
            processed_signs: HashSet::new(),
            entered_orders: HashSet::new(),
            pushed_services: HashSet::new(),
        }
    }

    /// Appends a record and returns its `seq`.
    pub(crate) fn record(&mut self, record: Record) -> u64 {
        let seq = self.received.len() as u64 + 1;
        self.received.push(Received {
            seq,
            at: SystemTime::now(),
            link: record.link,
            park_id: record.park_id,
            service_name: record.service_name,
            data: record.data,
            raw: record.raw,
            answer: record.answer,
        });
        seq
    }

    /// Registers a new connection; `None` when the simulator is refusing connections.
    pub(crate) fn register(&mut self, outbox: UnboundedSender<Downstream>) -> Option<u64> {
        if !self.accepting {
            return None;
        }
        let id = self.next_conn_id;
        self.next_conn_id += 1;
        self.conns.insert(
            id,
            Conn {
                outbox,
                session: None,
            },
        );
        Some(id)
    }

    /// Forgets a connection (and its session). Calling it twice is fine.
    pub(crate) fn unregister(&mut self, id: u64) {
        self.conns.remove(&id);
    }

    /// Whether the connection is still registered (not closed from outside).
    pub(crate) fn is_live(&self, id: u64) -> bool {
        self.conns.contains_key(&id)
    }

    /// The connection's session, if it has logged in.
    pub(crate) fn session(&self, id: u64) -> Option<&Session> {
        self.conns.get(&id).and_then(|conn| conn.session.as_ref())
    }

    /// Gives the connection a session (replacing one from an earlier login on it).
    pub(crate) fn set_session(&mut self, id: u64, session: Session) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.session = Some(session);
        }
    }

    /// The live session that was issued `token`, on either listener.
    pub(crate) fn session_by_token(&self, token: &str) -> Option<&Session> {
        self.conns
            .values()
            .filter_map(|conn| conn.session.as_ref())
            .find(|session| session.token == token)
    }

    pub(crate) fn logged_in(&self, park_id: &str) -> usize {
        self.live_sessions()
            .filter(|(_, session)| session.park_id == park_id)
            .count()
    }

    pub(crate) fn sessions(&self) -> Vec<SessionInfo> {
        self.live_sessions()
            .map(|(_, session)| SessionInfo {
                link: session.link,
                park_id: session.park_id.clone(),
                local_id: session.local_id.clone(),
                set_params: session.set_params.clone(),
            })
            .collect()
    }

    fn live_sessions(&self) -> impl Iterator<Item = (u64, &Session)> {
        self.conns
            .iter()
            .filter_map(|(id, conn)| conn.session.as_ref().map(|s| (*id, s)))
    }

    /// Asks every live connection to close and forgets them at once, so that `logged_in` reads
    /// 0 as soon as this returns.
    pub(crate) fn close_all(&mut self) {
        for conn in std::mem::take(&mut self.conns).into_values() {
            // A connection whose task already ended has dropped its receiver: nothing to close.
            let _ = conn.outbox.send(Downstream::Close);
        }
    }

    /// Forgets every connection without asking (the runtime that served them is gone).
    pub(crate) fn forget_connections(&mut self) {
        self.conns.clear();
    }

    /// Writes `message` downstream to the sessions of the park that [`route::targets`] picks,
    /// records the push and returns how many sessions it reached.
    pub(crate) fn push(&mut self, park_id: &str, message: &Value) -> usize {
        let sessions: Vec<(u64, &Session)> = self
            .live_sessions()
            .filter(|(_, session)| session.park_id == park_id)
            .collect();
        let targets = route::targets(&sessions, message);

        let line = wire::frame(message);
        let mut written = 0;
        for id in targets {
            let sent = self
                .conns
                .get(&id)
                .is_some_and(|conn| conn.outbox.send(Downstream::Line(line.clone())).is_ok());
            if sent {
                written += 1;
            }
        }

        if let Some(service_name) = message.get("service_name").and_then(Value::as_str) {
            self.pushed_services
                .insert((park_id.to_owned(), service_name.to_owned()));
        }
        self.pushed.push(Pushed {
            seq: self.pushed.len() as u64 + 1,
            at: SystemTime::now(),
            park_id: park_id.to_owned(),
            message: message.clone(),
            sessions: written,
        });
        written
    }

    /// Whether the simulator has pushed a message of this name to the park.
    pub(crate) fn was_pushed(&self, park_id: &str, service_name: &str) -> bool {
        self.pushed_services
            .contains(&(park_id.to_owned(), service_name.to_owned()))
    }

    pub(crate) fn is_processed(&self, park_id: &str, sign: &str) -> bool {
        self.processed_signs
            .contains(&(park_id.to_owned(), sign.to_owned()))
    }

    pub(crate) fn mark_processed(&mut self, park_id: &str, sign: &str) {
        self.processed_signs
            .insert((park_id.to_owned(), sign.to_owned()));
    }

    pub(crate) fn has_entered(&self, park_id: &str, order_id: &str) -> bool {
        self.entered_orders
            .contains(&(park_id.to_owned(), order_id.to_owned()))
    }

    pub(crate) fn mark_entered(&mut self, park_id: &str, order_id: &str) {
        self.entered_orders
            .insert((park_id.to_owned(), order_id.to_owned()));
    }

    /// The next `query_order_no` for a price query the simulator makes up.
    pub(crate) fn next_query_no(&mut self) -> String {
        let no = self.next_query_no;
        self.next_query_no += 1;
        format!("q{no}")
    }

    /// Counts one message towards `drop_every` and tells whether this one is to be dropped.
    pub(crate) fn count_for_drop(&mut self) -> bool {
        let Some(every) = self.drop_every else {
            return false;
        };
        self.dropped_count += 1;
        self.dropped_count % u64::from(every) == 0
    }

    /// Stores an image (after dropping expired ones) and returns its id.
    pub(crate) fn add_image(&mut self, mut image: StoredImage, retention: Duration) -> u64 {
        self.prune_images(retention);
        image.id = self.next_image_id;
        self.next_image_id += 1;
        self.images.push(image);
        self.next_image_id - 1
    }

    /// Drops images older than `retention`.
    pub(crate) fn prune_images(&mut self, retention: Duration) {
        let now = SystemTime::now();
        self.images.retain(|image| {
            // An image from the future (the clock went back) is kept.
            now.duration_since(image.received_at)
                .map(|age| age <= retention)
                .unwrap_or(true)
        });
    }
}

/// The state, its lock, and the configuration it was started with.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    pub(crate) fn new(config: SimConfig) -> Shared {
        Shared {
            config,
            state: Mutex::new(State::new()),
            changed: Condvar::new(),
        }
    }

    /// Locks the state for reading or for a change that wakes nobody.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state usable: every change is a whole step.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a change under the lock, then wakes the waiters.
    pub(crate) fn update<R>(&self, change: impl FnOnce(&mut State) -> R) -> R {
        let result = change(&mut self.lock());
        self.changed.notify_all();
        result
    }

    /// Wakes the waiters after a change made under [`Shared::lock`].
    pub(crate) fn notify(&self) {
        self.changed.notify_all();
    }

    /// See [`Sim::wait_for`](crate::Sim::wait_for).
    pub(crate) fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        let mut checked = 0;
        loop {
            if let Some(found) = state.received[checked..].iter().find(|r| pred(r)) {
                return Some(found.clone());
            }
            checked = state.received.len();

            let left = match deadline {
                Some(deadline) => deadline.checked_duration_since(Instant::now())?,
                // A timeout too long to add to the clock: a day at a time is as good as forever.
                None => Duration::from_secs(24 * 60 * 60),
            };
            if left.is_zero() {
                return None;
            }
            state = match self.changed.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}
