//! A TCP link to one back end: connect, log in, keep the heartbeat, send the outbox in order
//! under the rate limits, match answers to what was sent, and reconnect when the link dies.

pub mod framing;

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::LinkId;
use crate::client::Shared;
use crate::config::Endpoint;
use crate::outbox::Entry;
use crate::services::{ORDER_SERVICES, answer_alias};
use crate::sign;
use framing::{Frame, HEARTBEAT, Splitter};

/// Messages sent and not yet answered, per link.
const WINDOW: usize = 16;

/// Attempts at a message the server never answers before it is set aside.
const MAX_UNANSWERED_ATTEMPTS: u32 = 3;

/// The window `rate_limit_per_10s` is counted over. The cloud counts 10 s on its own clock, when
/// messages arrive: a message delayed on the way (the first ones after a login often are) would
/// otherwise still be in the cloud's window when the SDK's has let it go. One second of margin.
const RATE_WINDOW: Duration = Duration::from_millis(11_000);

/// Pause after the server says `request_over_times`.
const OVER_RATE_PAUSE: Duration = Duration::from_secs(10);

/// Keys the cloud echoes in its answers; used to match an answer to the message it answers.
const ECHO_KEYS: &[&str] = &[
    "order_id",
    "trade_no",
    "query_order_no",
    "event_id",
    "card_id",
];

/// What the rest of the SDK sees of a link.
pub struct LinkState {
    pub id: LinkId,
    logged_in: AtomicBool,
    token: Mutex<Option<String>>,
    last_error: Mutex<String>,
    events: Sender<Event>,
}

impl LinkState {
    pub fn logged_in(&self) -> bool {
        self.logged_in.load(Ordering::SeqCst)
    }

    /// The token of the current login, when logged in.
    pub fn token(&self) -> Option<String> {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Why the link last failed, empty when it never did.
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Tells the link thread that the outbox has something new.
    pub fn wake(&self) {
        let _ = self.events.send(Event::Wake);
    }

    /// Asks the link thread to log out and end.
    pub fn stop(&self) {
        let _ = self.events.send(Event::Stop);
    }

    fn set_session(&self, token: Option<String>) {
        self.logged_in.store(token.is_some(), Ordering::SeqCst);
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = token;
    }

    fn set_error(&self, error: &str) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error.to_string();
    }
}

enum Event {
    Wake,
    Stop,
    Frame(u64, Frame),
    Closed(u64, String),
}

/// Starts a link thread.
pub fn spawn(
    id: LinkId,
    endpoint: Endpoint,
    shared: Arc<Shared>,
) -> std::io::Result<(Arc<LinkState>, JoinHandle<()>)> {
    let (events, rx) = mpsc::channel();
    let state = Arc::new(LinkState {
        id,
        logged_in: AtomicBool::new(false),
        token: Mutex::new(None),
        last_error: Mutex::new(String::new()),
        events: events.clone(),
    });
    let link = Link {
        state: Arc::clone(&state),
        endpoint,
        shared,
        rx,
        events,
        generation: 0,
        inflight: VecDeque::new(),
        ready: VecDeque::new(),
        retry: VecDeque::new(),
        last_id: 0,
        sent_times: VecDeque::new(),
        last_order: None,
        pause_until: None,
        attempts: HashMap::new(),
    };
    let handle = thread::Builder::new()
        .name(format!("bolink-{}-link", id.name()))
        .spawn(move || link.run())?;
    Ok((state, handle))
}

struct InFlight {
    entry: Entry,
    keys: Map<String, Value>,
    sent: Instant,
}

/// How a session ended.
enum End {
    Stop,
    Reconnect,
}

/// How the server took a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Duplicate,
    Refused,
}

struct Link {
    state: Arc<LinkState>,
    endpoint: Endpoint,
    shared: Arc<Shared>,
    rx: Receiver<Event>,
    events: Sender<Event>,
    generation: u64,
    inflight: VecDeque<InFlight>,
    ready: VecDeque<Entry>,
    retry: VecDeque<Entry>,
    last_id: u64,
    sent_times: VecDeque<Instant>,
    last_order: Option<Instant>,
    pause_until: Option<Instant>,
    attempts: HashMap<u64, u32>,
}

impl Link {
    fn run(mut self) {
        let name = self.state.id.name();
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.connect() {
                Ok(login) => {
                    backoff = Duration::from_secs(1);
                    tracing::info!(link = name, "logged in");
                    self.state.set_session(Some(login.token.clone()));
                    self.shared.link_changed();
                    let end = self.session(login);
                    self.state.set_session(None);
                    self.shared.link_changed();
                    match end {
                        End::Stop => return,
                        End::Reconnect if !self.shared.config.autoconnect => {
                            tracing::warn!(link = name, "link closed; autoconnect is off");
                            self.wait_for_stop();
                            return;
                        }
                        End::Reconnect => {}
                    }
                }
                Err(LoginError::Stopped) => return,
                Err(LoginError::Failed(why, refused)) => {
                    tracing::warn!(link = name, "cannot log in: {why}");
                    self.state.set_error(&why);
                    if refused {
                        // A refused login will be refused again soon: wait the longest.
                        backoff = self.shared.config.reconnect_max;
                    }
                }
            }
            if self.sleep(backoff) {
                return;
            }
            backoff = (backoff * 2).min(self.shared.config.reconnect_max);
        }
    }

    /// Waits, returning early (true) when asked to stop.
    fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.rx.recv_timeout(left) {
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => return true,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn wait_for_stop(&self) {
        while !matches!(self.rx.recv(), Ok(Event::Stop) | Err(_)) {}
    }

    fn connect(&mut self) -> Result<Login, LoginError> {
        let config = &self.shared.config;
        let failed = |why: String| LoginError::Failed(why, false);
        let address = format!("{}:{}", self.endpoint.host, self.endpoint.port);
        let addrs: Vec<_> = address
            .to_socket_addrs()
            .map_err(|e| failed(format!("cannot resolve {address}: {e}")))?
            .collect();
        let mut last = format!("no address for {address}");
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, config.connect_timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = format!("cannot connect to {address}: {e}"),
            }
        }
        let mut stream = stream.ok_or_else(|| failed(last))?;
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(config.connect_timeout));
        let _ = stream.set_read_timeout(Some(config.connect_timeout));

        let data = self.login_data();
        let text = sign::compact(&Value::Object(data));
        let line = format!(
            "{{\"service_name\":\"login\",\"sign\":\"{}\",\"data\":{}}}\n",
            sign::sign_text(&text, &self.endpoint.secret),
            text
        );
        stream
            .write_all(line.as_bytes())
            .map_err(|e| failed(format!("login not sent: {e}")))?;

        let mut splitter = Splitter::default();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + config.connect_timeout;
        loop {
            if Instant::now() >= deadline {
                return Err(failed("no answer to login".into()));
            }
            let n = match stream.read(&mut buf) {
                Ok(0) => return Err(failed("the server closed the link during login".into())),
                Ok(n) => n,
                Err(e) => return Err(failed(format!("no answer to login: {e}"))),
            };
            let mut frames = splitter.feed(&buf[..n]).into_iter();
            while let Some(frame) = frames.next() {
                let Frame::Json(text) = frame else { continue };
                let Ok(Value::Object(answer)) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let token = answer
                    .get("token")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if answer.get("state").and_then(Value::as_i64) == Some(1) && !token.is_empty() {
                    let _ = stream.set_read_timeout(None);
                    // The cloud may push right after the login answer, in the same read.
                    let early = frames.collect();
                    return Ok(Login {
                        stream,
                        token: token.to_string(),
                        splitter,
                        early,
                    });
                }
                let errmsg = answer
                    .get("errmsg")
                    .and_then(Value::as_str)
                    .unwrap_or("no reason");
                return Err(LoginError::Failed(format!("login refused: {errmsg}"), true));
            }
            if self.stop_requested() {
                return Err(LoginError::Stopped);
            }
        }
    }

    fn stop_requested(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    /// The login `data`, shaped as the vendor's SDK sends it on each link.
    fn login_data(&self) -> Map<String, Value> {
        let config = &self.shared.config;
        let mut data = Map::new();
        let legacy_cloud =
            self.state.id == LinkId::Cloud && config.mode == crate::config::Mode::Legacy;
        if !legacy_cloud {
            data.insert("union_id".into(), config.union_id.clone().into());
        }
        data.insert("park_id".into(), config.park_id.clone().into());
        data.insert("local_id".into(), config.wire_local_id.clone().into());
        if let (false, Some(params)) = (legacy_cloud, &config.set_params) {
            data.insert("set_params".into(), params.clone());
        }
        data
    }

    fn session(&mut self, login: Login) -> End {
        let Login {
            stream,
            token,
            splitter,
            early,
        } = login;
        self.generation += 1;
        let generation = self.generation;
        self.inflight.clear();
        self.ready.clear();
        self.retry.clear();
        self.last_id = 0;

        for frame in early {
            let _ = self.events.send(Event::Frame(generation, frame));
        }
        let reader = match self.spawn_reader(&stream, splitter, generation) {
            Ok(reader) => reader,
            Err(e) => {
                tracing::error!("cannot start the reader thread: {e}");
                return End::Reconnect;
            }
        };
        let end = self.serve(&stream, &token, generation);
        let _ = stream.shutdown(Shutdown::Both);
        let _ = reader.join();
        end
    }

    /// Starts the reader of a logged-in connection; `splitter` holds what login read past its
    /// answer.
    fn spawn_reader(
        &self,
        stream: &TcpStream,
        mut splitter: Splitter,
        generation: u64,
    ) -> std::io::Result<JoinHandle<()>> {
        let mut stream = stream.try_clone()?;
        let events = self.events.clone();
        thread::Builder::new()
            .name(format!("bolink-{}-read", self.state.id.name()))
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) => {
                            let _ =
                                events.send(Event::Closed(generation, "closed by server".into()));
                            return;
                        }
                        Ok(n) => {
                            for frame in splitter.feed(&buf[..n]) {
                                if events.send(Event::Frame(generation, frame)).is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = events.send(Event::Closed(generation, e.to_string()));
                            return;
                        }
                    }
                }
            })
    }

    fn serve(&mut self, stream: &TcpStream, token: &str, generation: u64) -> End {
        let config = Arc::clone(&self.shared.config);
        let name = self.state.id.name();
        let mut writer = stream;
        let mut last_rx = Instant::now();
        let mut last_heartbeat = Instant::now();
        let dead_after = config.heartbeat * 3 + config.connect_timeout;
        let mut draining = false;

        loop {
            if self.stop_requested() {
                return End::Stop;
            }
            let next_send = match self.fill_window(&mut writer, token) {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(link = name, "write failed: {e}; reconnecting");
                    self.state.set_error(&format!("write failed: {e}"));
                    return End::Reconnect;
                }
            };
            let busy =
                !self.inflight.is_empty() || !self.ready.is_empty() || !self.retry.is_empty();
            if busy != draining {
                draining = busy;
                if busy {
                    tracing::info!(link = name, "outbox draining");
                } else {
                    tracing::info!(link = name, "outbox drained");
                }
            }

            let now = Instant::now();
            let mut wake = last_heartbeat + config.heartbeat;
            wake = wake.min(last_rx + dead_after);
            if let Some(at) = next_send {
                wake = wake.min(at);
            }
            if let Some(first) = self.inflight.front() {
                wake = wake.min(first.sent + config.answer_timeout);
            }
            match self.rx.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => return End::Stop,
                Ok(Event::Wake) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Event::Frame(g, frame)) if g == generation => {
                    last_rx = Instant::now();
                    if let Frame::Json(text) = frame {
                        self.on_frame(text);
                    }
                }
                Ok(Event::Closed(g, why)) if g == generation => {
                    tracing::warn!(link = name, "link lost: {why}");
                    self.state.set_error(&format!("link lost: {why}"));
                    return End::Reconnect;
                }
                Ok(Event::Frame(..) | Event::Closed(..)) => {}
            }

            let now = Instant::now();
            if now >= last_heartbeat + config.heartbeat {
                if let Err(e) = writer.write_all(HEARTBEAT) {
                    tracing::warn!(link = name, "heartbeat failed: {e}; reconnecting");
                    return End::Reconnect;
                }
                last_heartbeat = now;
            }
            if now >= last_rx + dead_after {
                tracing::warn!(
                    link = name,
                    "nothing heard for {dead_after:?}; reconnecting"
                );
                self.state
                    .set_error("the server stopped answering heartbeats");
                return End::Reconnect;
            }
            if let Some(first) = self.inflight.front() {
                if now >= first.sent + config.answer_timeout {
                    let id = first.entry.id;
                    let attempts = self.attempts.entry(id).or_insert(0);
                    *attempts += 1;
                    tracing::warn!(
                        link = name,
                        service = first.entry.service.as_str(),
                        "no answer within {:?} (attempt {attempts}); reconnecting",
                        config.answer_timeout
                    );
                    if *attempts >= MAX_UNANSWERED_ATTEMPTS {
                        let first = self.inflight.pop_front().expect("checked above");
                        self.attempts.remove(&id);
                        let why = format!(
                            "bolink: no answer from the server after {MAX_UNANSWERED_ATTEMPTS} \
                             attempts; the message is set aside in the outbox"
                        );
                        self.shared.unanswered(&first.entry, &first.keys, &why);
                    }
                    return End::Reconnect;
                }
            }
        }
    }

    /// Sends what the window and the rate limits allow. Returns when more could be sent if the
    /// limits held something back.
    fn fill_window(
        &mut self,
        writer: &mut &TcpStream,
        token: &str,
    ) -> std::io::Result<Option<Instant>> {
        let config = Arc::clone(&self.shared.config);
        while self.inflight.len() < WINDOW {
            if self.ready.is_empty() && self.retry.is_empty() {
                let batch = self
                    .shared
                    .outbox
                    .next_after(self.state.id, self.last_id, WINDOW);
                if batch.is_empty() {
                    return Ok(None);
                }
                self.last_id = batch.last().map_or(self.last_id, |e| e.id);
                self.ready.extend(batch);
            }
            let now = Instant::now();
            if let Some(until) = self.pause_until {
                if now < until {
                    return Ok(Some(until));
                }
                self.pause_until = None;
            }
            while self
                .sent_times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW)
            {
                self.sent_times.pop_front();
            }
            if config.rate_limit_per_10s > 0
                && self.sent_times.len() >= config.rate_limit_per_10s as usize
            {
                return Ok(self.sent_times.front().map(|t| *t + RATE_WINDOW));
            }
            let next = self
                .retry
                .front()
                .or(self.ready.front())
                .expect("one queue is non-empty");
            let is_order = ORDER_SERVICES.contains(&next.service.as_str());
            if is_order && config.orders_per_second > 0 {
                let gap = Duration::from_secs(1) / config.orders_per_second;
                if let Some(at) = self.last_order.map(|t| t + gap).filter(|at| *at > now) {
                    return Ok(Some(at));
                }
            }
            let entry = match self.retry.pop_front() {
                Some(entry) => entry,
                None => self.ready.pop_front().expect("checked above"),
            };

            let line = format!(
                "{{\"service_name\":{},\"sign\":\"{}\",\"token\":\"{}\",\"data\":{}}}\n",
                Value::String(entry.service.clone()),
                sign::sign_text(&entry.data, &self.endpoint.secret),
                token,
                entry.data
            );
            writer.write_all(line.as_bytes())?;
            self.sent_times.push_back(now);
            if is_order {
                self.last_order = Some(now);
            }
            tracing::debug!(
                link = self.state.id.name(),
                service = entry.service.as_str(),
                id = entry.id,
                "sent"
            );
            if entry.expects_answer {
                let keys = echo_keys(&entry.data);
                self.inflight.push_back(InFlight {
                    entry,
                    keys,
                    sent: now,
                });
            } else {
                self.shared.sent_without_answer(&entry);
            }
        }
        Ok(None)
    }

    fn on_frame(&mut self, text: String) {
        let Ok(Value::Object(message)) = serde_json::from_str::<Value>(&text) else {
            tracing::warn!(
                link = self.state.id.name(),
                "ignored a frame that is not a JSON object"
            );
            return;
        };
        let Some(service) = message.get("service_name").and_then(Value::as_str) else {
            let errmsg = message.get("errmsg").and_then(Value::as_str).unwrap_or("");
            tracing::warn!(link = self.state.id.name(), "the server said: {errmsg}");
            return;
        };
        let service = answer_alias(service).to_string();
        if message.contains_key("state") {
            if let Some(index) = self.match_inflight(&service, &message) {
                let flight = self.inflight.remove(index).expect("index from match");
                self.attempts.remove(&flight.entry.id);
                let errmsg = message.get("errmsg").and_then(Value::as_str).unwrap_or("");
                let state = message.get("state").and_then(Value::as_i64).unwrap_or(0);
                if state != 1 && state != 2 && errmsg.contains("request_over_times") {
                    tracing::warn!(link = self.state.id.name(), "the server asks to slow down");
                    self.pause_until = Some(Instant::now() + OVER_RATE_PAUSE);
                    self.retry.push_back(flight.entry);
                    return;
                }
                if state != 1 && state != 2 && errmsg.contains("token") {
                    // The server drops the link after this; the message goes again after login.
                    self.retry.push_back(flight.entry);
                    return;
                }
                let outcome = match state {
                    1 | 2 => Outcome::Delivered,
                    _ if errmsg.contains("已处理") => Outcome::Duplicate,
                    _ => Outcome::Refused,
                };
                self.shared.answered(&flight.entry, outcome, &text, errmsg);
                return;
            }
        }
        self.shared
            .downstream_message(self.state.id, &service, &message, text);
    }

    /// The in-flight message an answer belongs to: the oldest with that service whose echoed
    /// keys agree with the answer.
    fn match_inflight(&self, service: &str, answer: &Map<String, Value>) -> Option<usize> {
        let agrees = |flight: &InFlight| {
            flight.keys.iter().all(|(key, sent)| match answer.get(key) {
                Some(got) => same_text(got, sent),
                None => true,
            })
        };
        let same_service = |flight: &&InFlight| flight.entry.service == service;
        self.inflight
            .iter()
            .position(|f| same_service(&f) && agrees(f))
            .or_else(|| self.inflight.iter().position(|f| same_service(&f)))
    }
}

/// A logged-in connection, with whatever the login read past its answer.
struct Login {
    stream: TcpStream,
    token: String,
    splitter: Splitter,
    early: Vec<Frame>,
}

enum LoginError {
    Stopped,
    Failed(String, bool),
}

fn echo_keys(data: &str) -> Map<String, Value> {
    let Ok(Value::Object(data)) = serde_json::from_str::<Value>(data) else {
        return Map::new();
    };
    ECHO_KEYS
        .iter()
        .filter_map(|k| data.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

fn same_text(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text(a) == text(b)
}
