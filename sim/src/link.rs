//! The cloud's side of one SDK link: what each upstream line is answered with.
//!
//! The order of the checks follows the cloud server: a line is parsed, then a login is checked
//! against the park list and its sign; any other message is checked for its token (a wrong one
//! ends the connection), its rate, its sign, then it is told apart as a reply to a downstream
//! request (recorded, never answered), a duplicate, a refusal for a missing field, or an upload
//! that is accepted.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::state::{Record, Session, Shared, State};
use crate::{LinkKind, Park, route, sign, token};

/// The fields an answer to an upload echoes from its `data`, in this order: the request keys of
/// protocol section 4 and the record ids of section 5.
pub const ECHOED_KEYS: &[&str] = &[
    "order_id",
    "trade_no",
    "query_order_no",
    "event_id",
    "card_id",
    "price_id",
    "package_id",
    "user_id",
    "black_uuid",
    "car_type_id",
    "channel_id",
    "liftrod_id",
    "log_id",
    "uuid",
    "request_no",
    "ticket_id",
];

/// Uploads the cloud refuses to process twice (same sign, same park).
const CHECKED_FOR_DUPLICATES: &[&str] =
    &["in_park", "out_park", "upload_order", "inpark", "outpark"];

/// Downstream requests; a message with one of these names and a `state` is a reply when the
/// simulator pushed that name to the park before (`outpark` is also the bolink exit upload).
const DOWNSTREAM_REQUESTS: &[&str] = &[
    "query_price",
    "prepay_order",
    "nolicence_in_park",
    "outpark",
    "price_sync",
    "month_card_sync",
    "month_member_sync",
    "collector_sync",
    "lock_car",
    "monthcard_pay",
    "query_prodprice",
    "deliver_ticket",
    "gate_sync",
    "blackuser_sync",
    "car_type_sync",
    "month_pay_sync",
    "confirm_order_inform",
    "operate_liftrod",
    "repair",
    "update_park_soft",
    "query_newprodprice",
    "pay_notice",
];

/// The length of the rate-limit window.
const RATE_WINDOW: Duration = Duration::from_secs(10);

/// What one connection remembers between its lines.
pub(crate) struct LinkConn {
    pub(crate) id: u64,
    pub(crate) link: LinkKind,
    /// When each recent message arrived, for the rate limit.
    recent: VecDeque<Instant>,
}

impl LinkConn {
    pub(crate) fn new(id: u64, link: LinkKind) -> LinkConn {
        LinkConn {
            id,
            link,
            recent: VecDeque::new(),
        }
    }

    /// Notes one more message and tells whether it goes over `limit` in the window.
    fn over_rate(&mut self, limit: Option<u32>) -> bool {
        let now = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|at| now.duration_since(*at) >= RATE_WINDOW)
        {
            self.recent.pop_front();
        }
        // Refused messages count too: a client that keeps flooding stays refused.
        self.recent.push_back(now);
        limit.is_some_and(|limit| self.recent.len() > limit as usize)
    }
}

/// What to do after a line.
pub(crate) struct Outcome {
    pub(crate) answer: Option<Value>,
    /// Close the connection (after writing the answer, if any).
    pub(crate) close: bool,
}

impl Outcome {
    fn answer(answer: Value) -> Outcome {
        Outcome {
            answer: Some(answer),
            close: false,
        }
    }

    /// The answer to a line that is not a JSON message; the connection stays open.
    pub(crate) fn malformed() -> Outcome {
        Outcome::answer(json!({"state":0,"errmsg":"error:数据格式错误"}))
    }
}

/// Handles one upstream line (not a heartbeat) of a connection.
pub(crate) fn handle_line(shared: &Shared, conn: &mut LinkConn, line: &str) -> Outcome {
    let message = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(message)) => message,
        _ => return Outcome::malformed(),
    };
    let Some(service_name) = message.get("service_name").and_then(Value::as_str) else {
        return Outcome::malformed();
    };

    if service_name == "login" {
        login(shared, conn, &message, line)
    } else {
        upload(shared, conn, service_name, &message, line)
    }
}

/// A login: finds the park, checks the sign, and opens a session.
fn login(shared: &Shared, conn: &LinkConn, message: &Map<String, Value>, raw: &str) -> Outcome {
    let data = message.get("data").cloned().unwrap_or(Value::Null);
    let sign = message.get("sign").and_then(Value::as_str).unwrap_or("");
    let park_id = data.get("park_id").and_then(text);
    let park = park_id
        .as_deref()
        .and_then(|park_id| find_park(&shared.config.parks, &data, park_id));

    let key = park.and_then(|park| {
        login_keys(park, conn.link)
            .into_iter()
            .find(|key| sign::sign(&data, key) == sign)
    });
    let (answer, session) = match (park, key) {
        (None, _) => (refused_login("error:云平台车场不存在"), None),
        (Some(_), None) => (refused_login("error:签名错误"), None),
        (Some(park), Some(key)) => {
            let token = token::new_token();
            let local_id = data
                .get("local_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let session = Session {
                token: token.clone(),
                key: key.to_owned(),
                park_id: park.park_id.clone(),
                link: conn.link,
                lanes: local_id.as_deref().and_then(route::lanes_of),
                local_id,
                set_params: data.get("set_params").cloned(),
            };
            (
                json!({"state":1,"token":token,"service_name":"login"}),
                Some(session),
            )
        }
    };

    let close = session.is_none();
    shared.update(|state| {
        if let Some(session) = session {
            state.set_session(conn.id, session);
        }
        state.record(Record {
            link: conn.link,
            park_id,
            service_name: "login".to_owned(),
            data,
            raw: raw.to_owned(),
            answer: Some(answer.clone()),
        });
    });
    Outcome {
        answer: Some(answer),
        close,
    }
}

/// The configured park a login names; a `union_id` in the login must match the park's.
fn find_park<'a>(parks: &'a [Park], data: &Value, park_id: &str) -> Option<&'a Park> {
    let union_id = data.get("union_id").and_then(text);
    parks.iter().find(|park| {
        park.park_id == park_id
            && union_id
                .as_ref()
                .is_none_or(|union_id| *union_id == park.union_id)
    })
}

/// The secrets a login on this listener may be signed with, in the order they are tried.
fn login_keys(park: &Park, link: LinkKind) -> Vec<&str> {
    match link {
        LinkKind::Bolink => vec![park.ukey.as_str()],
        LinkKind::Cloud => park
            .ckey
            .iter()
            .map(String::as_str)
            .chain([park.ukey.as_str()])
            .collect(),
    }
}

fn refused_login(errmsg: &str) -> Value {
    json!({"state":0,"errmsg":errmsg,"service_name":"login"})
}

/// Any message after the login.
fn upload(
    shared: &Shared,
    conn: &mut LinkConn,
    service_name: &str,
    message: &Map<String, Value>,
    raw: &str,
) -> Outcome {
    let data = message.get("data").cloned().unwrap_or(Value::Null);
    let token = message.get("token").and_then(Value::as_str);
    let sign = message.get("sign").and_then(Value::as_str).unwrap_or("");

    let mut state = shared.lock();
    let session = state.session(conn.id).cloned();
    let link = conn.link;
    let record = |answer: &Option<Value>, park_id: Option<String>| Record {
        link,
        park_id,
        service_name: service_name.to_owned(),
        data: data.clone(),
        raw: raw.to_owned(),
        answer: answer.clone(),
    };

    let Some(session) = session.filter(|session| Some(session.token.as_str()) == token) else {
        let park_id = state
            .session(conn.id)
            .map(|session| session.park_id.clone());
        let answer =
            Some(json!({"service_name":service_name,"state":0,"errmsg":"error:token无效"}));
        state.record(record(&answer, park_id));
        // Closing the socket is the logout: the session goes with it.
        state.unregister(conn.id);
        drop(state);
        shared.notify();
        return Outcome {
            answer,
            close: true,
        };
    };

    let over_rate = conn.over_rate(shared.config.rate_limit_per_10s);
    let verdict = judge(&mut state, &session, service_name, &data, sign, over_rate);
    let dropped = state.count_for_drop();
    let answer = if dropped { None } else { verdict.answer };
    state.record(record(&answer, Some(session.park_id.clone())));

    if verdict.entered && shared.config.auto_query_price {
        let query = json!({
            "service_name": "query_price",
            "pay_scene": 1,
            "car_number": data.get("car_number").cloned().unwrap_or(Value::Null),
            "order_id": data.get("order_id").cloned().unwrap_or(Value::Null),
            "query_order_no": state.next_query_no(),
            "out_channel_id": "B1",
        });
        state.push(&session.park_id, &query);
    }
    drop(state);
    shared.notify();

    Outcome {
        answer,
        close: dropped,
    }
}

/// How a message with a valid token is dealt with.
struct Verdict {
    /// `None` for a reply to a downstream request.
    answer: Option<Value>,
    /// An `in_park` was accepted (an `auto_query_price` is due).
    entered: bool,
}

/// Decides on a message with a valid token and, when it is accepted, notes what it changes.
fn judge(
    state: &mut State,
    session: &Session,
    service_name: &str,
    data: &Value,
    sign: &str,
    over_rate: bool,
) -> Verdict {
    let refuse = |errmsg: &str| Verdict {
        answer: Some(answer(service_name, 0, errmsg, data)),
        entered: false,
    };
    if over_rate {
        return refuse("request_over_times");
    }
    if !data.is_object() {
        return refuse("error:缺少参数data");
    }
    if sign::sign(data, &session.key) != sign {
        return refuse("error:签名错误");
    }

    let park_id = session.park_id.as_str();
    let is_reply = DOWNSTREAM_REQUESTS.contains(&service_name)
        && data.get("state").is_some()
        && state.was_pushed(park_id, service_name);
    if is_reply {
        return Verdict {
            answer: None,
            entered: false,
        };
    }

    let checked = CHECKED_FOR_DUPLICATES.contains(&service_name);
    if checked && state.is_processed(park_id, sign) {
        let mut duplicate = json!({"service_name":service_name,"state":0,"errmsg":"数据已处理过"});
        if let Some(order_id) = data.get("order_id") {
            duplicate["order_id"] = order_id.clone();
        }
        return Verdict {
            answer: Some(duplicate),
            entered: false,
        };
    }
    if let Some(field) = missing_field(service_name, data) {
        return refuse(&format!("error:缺少参数{field}"));
    }
    if service_name == "upload_carpic" {
        return refuse("error:图片请走http上传");
    }
    if let Some(errmsg) = state.refusals.get(service_name) {
        return refuse(&errmsg.clone());
    }
    if state.silent.contains(service_name) {
        return Verdict {
            answer: None,
            entered: false,
        };
    }

    if checked {
        state.mark_processed(park_id, sign);
    }
    let is_entry = matches!(service_name, "in_park" | "inpark");
    if let Some(order_id) = data.get("order_id").and_then(text).filter(|_| is_entry) {
        state.mark_entered(park_id, &order_id);
    }
    Verdict {
        answer: Some(answer(service_name, 1, "success", data)),
        entered: service_name == "in_park",
    }
}

/// The first field an order message must carry and does not (absent, null or empty).
fn missing_field(service_name: &str, data: &Value) -> Option<&'static str> {
    let required: &[&'static str] = match service_name {
        "in_park" | "inpark" => &["order_id", "car_number"],
        "out_park" | "outpark" => &["order_id"],
        _ => &[],
    };
    required
        .iter()
        .copied()
        .find(|field| match data.get(*field) {
            None | Some(Value::Null) => true,
            Some(Value::String(value)) => value.is_empty(),
            Some(_) => false,
        })
}

/// An answer to an upload: name, state, message, and every echoed key the data carries.
fn answer(service_name: &str, state: u8, errmsg: &str, data: &Value) -> Value {
    let mut answer = json!({"service_name":service_name,"state":state,"errmsg":errmsg});
    for key in ECHOED_KEYS {
        if let Some(value) = data.get(*key) {
            answer[*key] = value.clone();
        }
    }
    answer
}

/// A string or number field as text (ids are sometimes sent as numbers).
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}
