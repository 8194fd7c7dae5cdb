//! The running SDK: configuration, links, outbox and downstream delivery.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::LinkId;
use crate::config::{Config, Mode};
use crate::dispatch::Downstream;
use crate::error::{ErrCode, Error, Result};
use crate::fields::{self, str_of};
use crate::link::{self, LinkState, Outcome};
use crate::outbox::{Entry, NewEntry, Outbox};
use crate::services::{self, Answer, Class, Target};
use crate::sign;

/// Answers to these are the SDK's own business: the host got its answer when it called.
const CONSUMED_ANSWERS: &[&str] = &["in_park", "out_park", "inpark", "outpark"];

/// What the link threads and the API share.
pub struct Shared {
    pub config: Arc<Config>,
    pub outbox: Outbox,
    pub downstream: Arc<Downstream>,
    pub stopping: AtomicBool,
    /// Vehicle images (2.12): the HTTP client and the worker that posts kept images.
    pub carpic: crate::carpic::Images,
    links: Mutex<Vec<Arc<LinkState>>>,
    waiters: Mutex<HashMap<u64, Sender<Value>>>,
    balances: Mutex<HashMap<String, Map<String, Value>>>,
}

/// A running SDK. `stop` ends it; dropping it stops it too.
pub struct Client {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stopped: AtomicBool,
}

impl Client {
    /// Validates the init JSON, opens the outbox and starts the links in the background.
    pub fn start(config_json: &str, downstream: Arc<Downstream>) -> Result<Client> {
        let config = Config::parse(config_json)?;
        crate::log::configure(&config);
        let outbox = crate::outbox_open(&config)?;
        let carpic = crate::carpic::Images::new(&config);
        let shared = Arc::new(Shared {
            config: Arc::new(config),
            outbox,
            downstream,
            stopping: AtomicBool::new(false),
            carpic,
            links: Mutex::new(Vec::new()),
            waiters: Mutex::new(HashMap::new()),
            balances: Mutex::new(HashMap::new()),
        });

        let client = Client {
            shared: Arc::clone(&shared),
            threads: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
        };
        let spawn_error = |e: std::io::Error| {
            Error::new(ErrCode::Internal, format!("cannot start a thread: {e}"))
        };
        client.add_thread(shared.downstream.start().map_err(spawn_error)?);
        for (id, endpoint) in shared.config.endpoints() {
            let (state, handle) =
                link::spawn(id, endpoint, Arc::clone(&shared)).map_err(spawn_error)?;
            shared
                .links
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(state);
            client.add_thread(handle);
        }
        client.add_thread(crate::carpic::spawn(Arc::clone(&shared)).map_err(spawn_error)?);
        tracing::info!(
            park_id = shared.config.park_id.as_str(),
            mode = ?shared.config.mode,
            "bolink {} started",
            crate::VERSION
        );
        Ok(client)
    }

    fn add_thread(&self, handle: JoinHandle<()>) {
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// 2.1: a vehicle entered.
    pub fn upload_in_park(&self, json_text: &str) -> Result<Value> {
        let order = fields::parse_object(json_text)?;
        fields::check(&order, services::ENTRY_RULES)?;
        services::check_order_id(&order)?;
        services::check_range(&order, "car_cost_type", 1, 9)?;
        services::check_range(&order, "license_color", 0, 7)?;
        let order_id = str_of(&order, "order_id").unwrap_or_default().to_string();

        let bolink_fields = ["car_number", "in_time", "order_id", "empty_plot", "park_id"];
        let texts = self.send_order(&order, ("inpark", "in_park"), &bolink_fields, |_| {})?;
        Ok(json!({"service_name": "in_park", "state": 1, "order_id": order_id, "errmsg": texts}))
    }

    /// 2.2: a vehicle left.
    pub fn upload_out_park(&self, json_text: &str) -> Result<Value> {
        let order = fields::parse_object(json_text)?;
        fields::check(&order, services::EXIT_RULES)?;
        services::check_order_id(&order)?;
        let pay_type = str_of(&order, "pay_type").unwrap_or_default().to_string();
        if pay_type == "sweepcode" && str_of(&order, "auth_code").is_none_or(str::is_empty) {
            return Err(Error::new(
                ErrCode::MissingField,
                "missing required field `auth_code`: pay_type \"sweepcode\" needs the code scanned \
                 from the driver",
            ));
        }
        let order_id = str_of(&order, "order_id").unwrap_or_default().to_string();

        let bolink_fields = [
            "car_number",
            "in_time",
            "out_time",
            "total",
            "order_id",
            "empty_plot",
            "park_id",
            "pay_type",
            "auth_code",
        ];
        let cash = pay_type == "cash";
        self.send_order(&order, ("outpark", "out_park"), &bolink_fields, |bolink| {
            // Bolink collects electronic payments only: a cash exit owes it nothing.
            if cash {
                bolink.insert("total".into(), "0".into());
            }
        })?;
        Ok(json!({
            "service_name": "out_park",
            "order_id": order_id,
            "pay_type": pay_type,
            "net_status": self.net_status(),
            "state": 1,
            "errmsg": "成功。",
        }))
    }

    /// Queues an order on every link, shaped per link as the vendor's SDK does. Returns the
    /// vendor's answer text naming the links.
    fn send_order(
        &self,
        order: &Map<String, Value>,
        (bolink_service, cloud_service): (&str, &str),
        bolink_fields: &[&str],
        adjust_bolink: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<String> {
        let park_id = Value::String(self.shared.config.park_id.clone());
        let mut full = order.clone();
        full.insert("park_id".into(), park_id);

        let mut entries = Vec::new();
        let mut texts = Vec::new();
        if self.has_link(LinkId::Bolink) {
            let mut bolink: Map<String, Value> = bolink_fields
                .iter()
                .filter_map(|k| full.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect();
            adjust_bolink(&mut bolink);
            entries.push(new_entry(
                LinkId::Bolink,
                bolink_service,
                &Value::Object(bolink),
                true,
            ));
            texts.push("bolink send success");
        }
        if self.has_link(LinkId::Cloud) {
            entries.push(new_entry(
                LinkId::Cloud,
                cloud_service,
                &Value::Object(full),
                true,
            ));
            texts.push("cloud send success");
        }
        self.enqueue(&entries)?;
        Ok(texts.join(" "))
    }

    /// Every other upstream message, and replies to downstream requests.
    pub fn upload_data(&self, json_text: &str) -> Result<Value> {
        self.upload(json_text, None)
    }

    /// Like `upload_data`, but waits up to `timeout` for the server's answer.
    pub fn upload_data_sync(&self, json_text: &str, timeout: Duration) -> Result<Value> {
        self.upload(json_text, Some(timeout))
    }

    fn upload(&self, json_text: &str, wait: Option<Duration>) -> Result<Value> {
        let message = fields::parse_object(json_text)?;
        let (service, target, class) = services::classify(&message)?;
        if class == Class::Image {
            return crate::carpic::upload(&self.shared, &message, wait);
        }
        let link = self.link_for(target)?;
        let entry = new_entry(
            link,
            &service,
            &Value::Object(message),
            class != Class::Reply,
        );
        let wait = wait.or_else(|| {
            let documented_sync = class == Class::Upload(Answer::Wait);
            (documented_sync || self.shared.config.fast).then_some(self.shared.config.sync_timeout)
        });
        match wait {
            None => {
                self.enqueue(&[entry])?;
                Ok(json!({"state": 1, "errmsg": "upload data success!"}))
            }
            Some(timeout) => self.enqueue_and_wait(entry, timeout),
        }
    }

    /// 4.1: whether a plate can pay password-free, and whether the link is up.
    pub fn pay_status(&self, json_text: &str) -> Result<Value> {
        let query = fields::parse_object(json_text)?;
        if let Some(service) = query.get("service_name") {
            if service.as_str() != Some("pay_status") {
                return Err(Error::invalid(
                    "service_name",
                    "must be \"pay_status\" for getPayStatus",
                ));
            }
        }
        fields::check(
            &query,
            &[
                fields::req("car_number", fields::Kind::Str, 8),
                fields::opt("order_id", fields::Kind::Str, 48),
            ],
        )?;
        let car_number = str_of(&query, "car_number").unwrap_or_default().to_string();
        let cached = self.shared.lock_balances().get(&car_number).cloned();
        let (is_exist, balance, autopay) = match &cached {
            Some(b) => (
                1,
                b.get("balance").map(text_of).unwrap_or_default(),
                b.get("autopay")
                    .and_then(|v| fields::u64_of(&Map::from_iter([("a".into(), v.clone())]), "a"))
                    .unwrap_or(0),
            ),
            None => (0, String::new(), 0),
        };
        Ok(json!({
            "service_name": "pay_status",
            "car_number": car_number,
            "order_id": query.get("order_id").cloned().unwrap_or(Value::String(String::new())),
            "net_status": self.net_status(),
            "state": 1,
            "errmsg": "",
            "is_exist": is_exist,
            "balance": balance,
            "autopay": autopay,
            "sdk": self.status(),
        }))
    }

    /// The SDK's own state: links and outbox.
    pub fn status(&self) -> Value {
        let stats = self.shared.outbox.stats();
        let oldest_age_ms = if stats.pending == 0 {
            0
        } else {
            crate::outbox::now_ms().saturating_sub(stats.oldest_created_ms)
        };
        let links: Vec<Value> = self
            .shared
            .links()
            .iter()
            .map(|l| json!({"link": l.id.name(), "logged_in": l.logged_in(), "last_error": l.last_error()}))
            .collect();
        json!({
            "version": crate::VERSION,
            "links": links,
            "outbox": {
                "pending": stats.pending,
                "oldest_age_ms": oldest_age_ms,
                "rejected": stats.rejected,
                "persistent": stats.persistent,
                "warning": self.shared.outbox.problem(),
            },
            "downstream_waiting": self.shared.downstream.pending(),
        })
    }

    /// `net_status`: 1 when the link that carries payments is logged in.
    pub fn net_status(&self) -> u8 {
        let payments = match self.shared.config.mode {
            Mode::Cloud => LinkId::Cloud,
            Mode::Legacy | Mode::PayOnly => LinkId::Bolink,
        };
        self.shared
            .links()
            .iter()
            .any(|l| l.id == payments && l.logged_in()) as u8
    }

    fn has_link(&self, id: LinkId) -> bool {
        self.shared.links().iter().any(|l| l.id == id)
    }

    /// The link a `data_target` goes out on: in 4.x mode the cloud relays everything.
    fn link_for(&self, target: Target) -> Result<LinkId> {
        let id = match (self.shared.config.mode, target) {
            (Mode::Cloud, _) => LinkId::Cloud,
            (_, Target::Bolink) => LinkId::Bolink,
            (_, Target::Cloud) => LinkId::Cloud,
        };
        if self.has_link(id) {
            Ok(id)
        } else {
            Err(Error::invalid(
                "data_target",
                format!(
                    "names the {} link, which this configuration does not open",
                    id.name()
                ),
            ))
        }
    }

    fn enqueue(&self, entries: &[NewEntry]) -> Result<Vec<u64>> {
        let ids = self.shared.outbox.push(entries)?;
        self.shared.wake_links();
        Ok(ids)
    }

    fn enqueue_and_wait(&self, entry: NewEntry, timeout: Duration) -> Result<Value> {
        let (tx, rx) = mpsc::channel();
        let id = {
            // Registered under the same lock the links take to answer, so no answer slips past.
            let mut waiters = self.shared.lock_waiters();
            let id = self.shared.outbox.push(std::slice::from_ref(&entry))?[0];
            waiters.insert(id, tx);
            id
        };
        self.shared.wake_links();
        match rx.recv_timeout(timeout) {
            Ok(answer) => Ok(answer),
            Err(_) => {
                self.shared.lock_waiters().remove(&id);
                // The answer may have arrived between the timeout and the removal.
                if let Ok(answer) = rx.try_recv() {
                    return Ok(answer);
                }
                Err(Error::new(
                    ErrCode::Timeout,
                    format!(
                        "no answer from the server within {} ms; the message stays in the outbox \
                         and its answer will reach the receiver",
                        timeout.as_millis()
                    ),
                ))
            }
        }
    }

    /// Logs out, stops every thread and closes the outbox. Messages not yet delivered stay in
    /// the outbox (on disk when persistence is on).
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.carpic.wake();
        for link in self.shared.links() {
            link.stop();
        }
        self.shared.downstream.stop();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for handle in threads {
            let _ = handle.join();
        }
        // Gives up the data directory's lock, so the next init (here or in another process)
        // can open it.
        self.shared.outbox.close();
        tracing::info!("bolink stopped");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    pub fn links(&self) -> Vec<Arc<LinkState>> {
        self.links.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn link(&self, id: LinkId) -> Option<Arc<LinkState>> {
        self.links().into_iter().find(|l| l.id == id)
    }

    fn wake_links(&self) {
        for link in self.links() {
            link.wake();
        }
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Sender<Value>>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_balances(&self) -> std::sync::MutexGuard<'_, HashMap<String, Map<String, Value>>> {
        self.balances.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A link logged in or out.
    pub(crate) fn link_changed(&self) {
        self.carpic.wake();
    }

    /// The server answered a message.
    pub(crate) fn answered(&self, entry: &Entry, outcome: Outcome, text: &str, errmsg: &str) {
        match outcome {
            Outcome::Delivered | Outcome::Duplicate => self.outbox.remove(entry.id),
            Outcome::Refused => {
                tracing::warn!(
                    service = entry.service.as_str(),
                    id = entry.id,
                    "refused by the server: {errmsg}"
                );
                self.outbox.reject(entry.id, errmsg);
            }
        }
        if let Some(waiter) = self.lock_waiters().remove(&entry.id) {
            let answer = serde_json::from_str(text).unwrap_or(Value::Null);
            if waiter.send(answer).is_ok() {
                return;
            }
        }
        let consumed = CONSUMED_ANSWERS.contains(&entry.service.as_str());
        if outcome == Outcome::Refused || !consumed {
            self.downstream.deliver(text.to_string());
        }
    }

    /// A message that gets no answer went out.
    pub(crate) fn sent_without_answer(&self, entry: &Entry) {
        self.outbox.remove(entry.id);
        if let Some(waiter) = self.lock_waiters().remove(&entry.id) {
            let _ = waiter.send(json!({"state": 1, "errmsg": "upload data success!"}));
        }
    }

    /// A message the server never answered, set aside after several attempts.
    pub(crate) fn unanswered(&self, entry: &Entry, keys: &Map<String, Value>, why: &str) {
        tracing::error!(service = entry.service.as_str(), id = entry.id, "{why}");
        self.outbox.reject(entry.id, why);
        let mut report = Map::new();
        report.insert("service_name".into(), entry.service.clone().into());
        report.insert("state".into(), 0.into());
        report.insert("errmsg".into(), why.into());
        report.extend(keys.clone());
        let report = sign::compact(&Value::Object(report));
        match self.lock_waiters().remove(&entry.id) {
            Some(waiter) => {
                let _ = waiter.send(serde_json::from_str(&report).unwrap_or(Value::Null));
            }
            None => self.downstream.deliver(report),
        }
    }

    /// A message from the server that answers nothing in flight.
    pub(crate) fn downstream_message(
        &self,
        link: LinkId,
        service: &str,
        message: &Map<String, Value>,
        text: String,
    ) {
        if service == "update_balance" {
            if let Some(car) = message.get("car_number").and_then(Value::as_str) {
                self.lock_balances()
                    .insert(car.to_string(), message.clone());
            }
        }
        if message.contains_key("state")
            && CONSUMED_ANSWERS.contains(&service)
            && !message.contains_key("trade_no")
        {
            // A late answer to an order sent before a reconnect.
            tracing::debug!(link = link.name(), service, "late answer consumed");
            return;
        }
        tracing::debug!(link = link.name(), service, "downstream message");
        self.downstream.deliver(text);
    }
}

fn new_entry(link: LinkId, service: &str, data: &Value, expects_answer: bool) -> NewEntry {
    NewEntry {
        link,
        service: service.to_string(),
        data: sign::compact(data),
        expects_answer,
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
