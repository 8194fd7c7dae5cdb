//! The catalogue of messages: per `service_name`, which link it belongs to, whether the call
//! waits for the server, and which fields it must carry.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::fields::{self, Kind, Rule, opt, req, str_of};

/// The two back ends a message can be meant for (`data_target`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Cloud,
    Bolink,
}

impl Target {
    pub fn parse(text: &str) -> Option<Target> {
        match text {
            "cloud" => Some(Target::Cloud),
            "bolink" => Some(Target::Bolink),
            _ => None,
        }
    }
}

/// How an `uploadData` call is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// At once, locally; the server's answer reaches the receiver later.
    Later,
    /// The call waits for the server's answer (documented as synchronous).
    Wait,
}

/// What an `uploadData` message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// An upload the server answers.
    Upload(Answer),
    /// A reply to a downstream request: the server does not answer it.
    Reply,
    /// A vehicle image (2.12), sent over HTTP.
    Image,
}

/// Upstream services that are orders: the cloud asks for fewer than 10 a second.
pub const ORDER_SERVICES: &[&str] = &["in_park", "out_park", "upload_order", "inpark", "outpark"];

/// Downstream requests the host answers through `uploadData` with the same `service_name`.
pub const DOWNSTREAM_REQUESTS: &[&str] = &[
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

/// Rules for the uploads whose fields the protocol publishes (2.3 to 2.33).
const UPLOAD_RULES: &[(&str, &[Rule])] = {
    const N: Kind = Kind::Num;
    const S: Kind = Kind::Str;
    &[
        (
            "upload_order",
            &[
                req("car_number", S, 8),
                req("in_time", N, 15),
                req("out_time", N, 15),
                req("order_id", S, 48),
                req("total", N, 12),
                req("car_type", S, 8),
                req("c_type", S, 8),
            ],
        ),
        (
            "upload_collector",
            &[req("user_id", S, 24), req("operate_type", N, 2)],
        ),
        (
            "work_record",
            &[
                req("uuid", S, 48),
                req("user_id", S, 24),
                req("state", N, 2),
            ],
        ),
        (
            "park_log",
            &[
                req("log_id", S, 48),
                req("operate_time", N, 15),
                req("content", S, 0),
            ],
        ),
        (
            "upload_month_card",
            &[req("package_id", S, 24), req("operate_type", N, 2)],
        ),
        (
            "upload_price",
            &[
                req("price_id", S, 24),
                req("car_type", S, 12),
                req("operate_type", N, 2),
            ],
        ),
        (
            "upload_month_member",
            &[req("card_id", S, 48), req("operate_type", N, 2)],
        ),
        (
            "upload_liftrod",
            &[
                req("liftrod_id", S, 24),
                req("channel_id", S, 16),
                req("user_id", S, 24),
            ],
        ),
        (
            "month_pay_record",
            &[
                req("trade_no", S, 64),
                req("card_id", S, 48),
                req("pay_time", N, 15),
                req("amount_receivable", N, 12),
                req("amount_pay", N, 12),
                req("pay_type", S, 16),
            ],
        ),
        (
            "upload_gate",
            &[req("channel_id", S, 24), req("operate_type", N, 2)],
        ),
        (
            "upload_blackuser",
            &[req("black_uuid", S, 48), req("operate_type", N, 2)],
        ),
        (
            "upload_car_type",
            &[
                req("car_type_id", S, 24),
                req("name", S, 24),
                req("create_time", N, 15),
            ],
        ),
        (
            "upload_confirm_order",
            &[
                req("event_id", S, 24),
                req("car_number", S, 8),
                req("channel_id", S, 24),
            ],
        ),
        (
            "query_order",
            &[req("order_id", S, 48), req("time_temp", N, 13)],
        ),
        (
            "query_prepay_card_balance",
            &[
                req("card_id", S, 48),
                req("car_number", S, 8),
                req("random_str", S, 64),
            ],
        ),
        (
            "upload_ticket_deduction",
            &[
                req("ticket_id", S, 48),
                req("order_id", S, 48),
                req("use_time", N, 15),
                req("deduction_amount", N, 12),
            ],
        ),
        (
            "query_month_card_page",
            &[
                req("car_number", S, 8),
                req("random_str", S, 64),
                req("page", N, 6),
                req("rp", N, 3),
                opt("card_id", S, 48),
            ],
        ),
    ]
};

fn upload_rules(service: &str) -> Option<&'static [Rule]> {
    UPLOAD_RULES
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, rules)| *rules)
}

/// Uploads the protocol documents as answered synchronously.
const WAITING_SERVICES: &[&str] = &[
    "query_prepay_card_balance",
    "upload_ticket_deduction",
    "query_month_card_page",
    "parkInfo",
];

/// Checks the envelope and the known fields of an `uploadData` message and classifies it.
pub fn classify(obj: &Map<String, Value>) -> Result<(String, Target, Class)> {
    fields::check(
        obj,
        &[
            req("service_name", Kind::Str, 64),
            req("data_target", Kind::Str, 8),
        ],
    )?;
    let service = str_of(obj, "service_name").unwrap_or_default().to_string();
    let target_text = str_of(obj, "data_target").unwrap_or_default();
    let target = Target::parse(target_text).ok_or_else(|| {
        Error::invalid(
            "data_target",
            format!("is {target_text:?}; it must be \"cloud\" or \"bolink\""),
        )
    })?;

    match service.as_str() {
        "in_park" | "out_park" => {
            return Err(Error::invalid(
                "service_name",
                format!("{service:?} is sent with the entry/exit calls, not uploadData"),
            ));
        }
        "login" | "pay_status" => {
            return Err(Error::invalid(
                "service_name",
                format!("{service:?} is not an upload"),
            ));
        }
        "upload_carpic" => return Ok((service, target, Class::Image)),
        _ => {}
    }
    if DOWNSTREAM_REQUESTS.contains(&service.as_str()) {
        fields::check(obj, &[req("state", Kind::Num, 2)])?;
        return Ok((service, target, Class::Reply));
    }
    if let Some(rules) = upload_rules(&service) {
        fields::check(obj, rules)?;
    }
    if service == "query_month_card_page" && fields::u64_of(obj, "rp").unwrap_or(0) > 100 {
        return Err(Error::invalid("rp", "must be at most 100"));
    }
    let answer = if WAITING_SERVICES.contains(&service.as_str()) {
        Answer::Wait
    } else {
        Answer::Later
    };
    Ok((service, target, Class::Upload(answer)))
}

/// The service name an answer comes back under, for services the cloud renames.
pub fn answer_alias(service: &str) -> &str {
    match service {
        "car_type_upload" => "upload_car_type",
        other => other,
    }
}

/// Fields 2.1 (entry) must carry.
pub const ENTRY_RULES: &[Rule] = &[
    req("car_number", Kind::Str, 8),
    req("in_time", Kind::Num, 15),
    req("car_type", Kind::Str, 8),
    req("c_type", Kind::Str, 8),
    req("uid", Kind::Str, 24),
    req("order_id", Kind::Str, 48),
    req("empty_plot", Kind::Num, 10),
    req("in_channel_id", Kind::Str, 24),
    opt("work_station_uuid", Kind::Str, 48),
    opt("remark", Kind::Str, 256),
    opt("car_cost_type", Kind::Num, 1),
    opt("license_color", Kind::Num, 1),
];

/// Fields 2.2 (exit) must carry. The vendor's DLL also insisted on string `car_type`, `c_type`,
/// `out_uid` and `amount_receivable`; the documentation does not, so they are checked only
/// when present.
pub const EXIT_RULES: &[Rule] = &[
    req("car_number", Kind::Str, 8),
    req("in_time", Kind::Num, 15),
    req("out_time", Kind::Num, 15),
    req("uid", Kind::Str, 24),
    req("pay_type", Kind::Str, 16),
    req("empty_plot", Kind::Num, 10),
    req("total", Kind::Num, 12),
    req("order_id", Kind::Str, 48),
    opt("car_type", Kind::Str, 8),
    opt("c_type", Kind::Str, 8),
    opt("out_uid", Kind::Str, 24),
    opt("amount_receivable", Kind::Num, 12),
    opt("auth_code", Kind::Str, 64),
    opt("out_channel_id", Kind::Str, 24),
];

/// Checks an order id: letters, digits and `_` only.
pub fn check_order_id(obj: &Map<String, Value>) -> Result<()> {
    let id = str_of(obj, "order_id").unwrap_or_default();
    if id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(Error::invalid(
            "order_id",
            format!("is {id:?}; only letters, digits and `_` are allowed"),
        ))
    }
}

/// Checks an enumerated number field given as a number or digits.
pub fn check_range(obj: &Map<String, Value>, name: &str, lo: u64, hi: u64) -> Result<()> {
    match fields::u64_of(obj, name) {
        None if !obj.contains_key(name) => Ok(()),
        Some(v) if (lo..=hi).contains(&v) => Ok(()),
        _ => Err(Error::invalid(
            name,
            format!("must be a number from {lo} to {hi}"),
        )),
    }
}
