//! The SDK core against the simulator over real sockets: login, keys, heartbeat, reconnect,
//! uploads and their answers, downstream requests and replies, polling, balances.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bolink::{Client, Downstream, ErrCode};
use bolink_sim::LinkKind;
use common::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn start(init: &Value) -> (Client, Arc<Downstream>) {
    let downstream = Downstream::new();
    let client = Client::start(&init.to_string(), Arc::clone(&downstream)).expect("init accepted");
    (client, downstream)
}

fn logins(sim: &bolink_sim::Sim) -> usize {
    sim.received()
        .iter()
        .filter(|r| r.service_name == "login")
        .count()
}

#[test]
fn logs_in_with_the_vendor_login_shape() {
    let sim = sim();
    let (client, _) = start(&init_json(&sim));
    wait_until(WAIT, "login", || sim.logged_in(PARK_ID) == 1);
    let login = sim.wait_for(WAIT, |r| r.service_name == "login").unwrap();
    assert_eq!(login.answer.as_ref().unwrap()["state"], 1);
    assert_eq!(
        login.data,
        json!({"union_id": UNION_ID, "park_id": PARK_ID, "local_id": "a1b2c3d4e5f6_4.2.0.0_gate1"})
    );
    assert_eq!(client.net_status(), 1);
    client.stop();
    wait_until(WAIT, "logout", || sim.logged_in(PARK_ID) == 0);
}

#[test]
fn a_wrong_key_is_refused_and_reported() {
    let sim = sim();
    let mut init = init_json(&sim);
    init["ukey"] = "WRONGKEY".into();
    let (client, _) = start(&init);
    wait_until(WAIT, "refused login", || {
        client.status()["links"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("签名错误")
    });
    assert_eq!(sim.logged_in(PARK_ID), 0);
    assert_eq!(client.net_status(), 0);
}

#[test]
fn heartbeats_keep_an_idle_link_alive() {
    let sim = sim();
    let mut init = init_json(&sim);
    // Dead after 3 heartbeats + 0.5 s of silence: the link only survives if 0x12 comes back.
    init["connect_timeout_ms"] = 500.into();
    let (_client, _) = start(&init);
    wait_until(WAIT, "login", || sim.logged_in(PARK_ID) == 1);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        logins(&sim),
        1,
        "the idle link was dropped and logged in again"
    );
    assert_eq!(sim.logged_in(PARK_ID), 1);
}

#[test]
fn reconnects_and_logs_in_again_after_a_drop() {
    let sim = sim();
    let (client, downstream) = start(&init_json(&sim));
    let got = collector(&downstream);
    wait_until(WAIT, "login", || sim.logged_in(PARK_ID) == 1);
    sim.drop_connections();
    wait_until(WAIT, "second login", || {
        logins(&sim) == 2 && sim.logged_in(PARK_ID) == 1
    });
    let collector_upload = json!({"service_name": "upload_collector", "data_target": "cloud",
        "user_id": "u1", "operate_type": 1, "name": "张三"});
    client.upload_data(&collector_upload.to_string()).unwrap();
    wait_until(WAIT, "answer", || !got.lock().unwrap().is_empty());
    assert_eq!(got.lock().unwrap()[0]["user_id"], "u1");
}

#[test]
fn upload_data_goes_unchanged_and_its_answer_reaches_the_receiver() {
    let sim = sim();
    let (client, downstream) = start(&init_json(&sim));
    let got = collector(&downstream);
    let text = r#"{"service_name":"upload_collector","data_target":"cloud","user_id":"u7","operate_type":1,"name":"李四","total":12.50}"#;
    let answer = client.upload_data(text).unwrap();
    assert_eq!(
        answer,
        json!({"state": 1, "errmsg": "upload data success!"})
    );

    let record = sim
        .wait_for(WAIT, |r| r.service_name == "upload_collector")
        .unwrap();
    assert_eq!(
        bolink::sign::compact(&record.data),
        text,
        "data is the caller's JSON as given"
    );
    assert_eq!(
        record.answer.as_ref().unwrap()["state"],
        1,
        "the simulator accepted the sign"
    );
    wait_until(WAIT, "answer", || !got.lock().unwrap().is_empty());
    let answer = got.lock().unwrap()[0].clone();
    assert_eq!(answer["service_name"], "upload_collector");
    assert_eq!(answer["user_id"], "u7");
    wait_until(WAIT, "outbox empty", || {
        client.status()["outbox"]["pending"] == 0
    });
}

#[test]
fn entries_and_exits_are_answered_locally_and_their_answers_consumed() {
    let sim = sim();
    let (client, downstream) = start(&init_json(&sim));
    let got = collector(&downstream);
    let answer = client.upload_in_park(&entry("ord_a").to_string()).unwrap();
    assert_eq!(answer["state"], 1);
    assert_eq!(answer["order_id"], "ord_a");
    let answer = client.upload_out_park(&exit("ord_a").to_string()).unwrap();
    assert_eq!(answer["service_name"], "out_park");
    assert_eq!(answer["pay_type"], "cash");

    let inpark = sim.wait_for(WAIT, |r| r.service_name == "in_park").unwrap();
    let mut expected = entry("ord_a");
    expected["park_id"] = PARK_ID.into();
    assert_eq!(
        inpark.data, expected,
        "every caller field, in order, then park_id"
    );
    let outpark = sim
        .wait_for(WAIT, |r| r.service_name == "out_park")
        .unwrap();
    assert_eq!(outpark.answer.as_ref().unwrap()["state"], 1);
    wait_until(WAIT, "outbox empty", || {
        client.status()["outbox"]["pending"] == 0
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        got.lock().unwrap().is_empty(),
        "answers to 2.1/2.2 stay inside: {:?}",
        got.lock().unwrap()
    );
}

#[test]
fn legacy_mode_shapes_each_link_like_the_vendor() {
    let sim = sim();
    let (client, _) = start(&legacy_init_json(&sim));
    wait_until(WAIT, "two logins", || sim.logged_in(PARK_ID) == 2);
    let cloud_login = sim
        .wait_for(WAIT, |r| {
            r.service_name == "login" && r.link == LinkKind::Cloud
        })
        .unwrap();
    assert!(
        cloud_login.data.get("union_id").is_none(),
        "the legacy cloud login has no union_id"
    );

    client.upload_in_park(&entry("ord_l").to_string()).unwrap();
    let bolink = sim.wait_for(WAIT, |r| r.service_name == "inpark").unwrap();
    assert_eq!(bolink.link, LinkKind::Bolink);
    assert_eq!(
        bolink.data,
        json!({"car_number": "京A54321", "in_time": 1700000000, "order_id": "ord_l",
               "empty_plot": 20, "park_id": PARK_ID})
    );
    let cloud = sim.wait_for(WAIT, |r| r.service_name == "in_park").unwrap();
    assert_eq!(cloud.link, LinkKind::Cloud);
    assert_eq!(
        cloud.answer.as_ref().unwrap()["state"],
        1,
        "signed with ckey"
    );

    client.upload_out_park(&exit("ord_l").to_string()).unwrap();
    let bolink = sim.wait_for(WAIT, |r| r.service_name == "outpark").unwrap();
    assert_eq!(bolink.data["total"], "0", "a cash exit owes bolink nothing");
    assert_eq!(bolink.data["pay_type"], "cash");
}

#[test]
fn a_downstream_request_is_answered_from_the_callback() {
    let sim = sim();
    let (client, downstream) = start(&init_json(&sim));
    let client = Arc::new(client);
    let replier = Arc::clone(&client);
    let threads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&threads);
    downstream.set_receiver(Some(Arc::new(move |text: &str| {
        seen.lock().unwrap().push(std::thread::current().name().map(str::to_string));
        let request: Value = serde_json::from_str(text).unwrap();
        if request["service_name"] == "query_price" {
            let reply = json!({"service_name": "query_price", "data_target": "bolink", "state": 1,
                "errmsg": "", "order_id": request["order_id"], "query_order_no": request["query_order_no"],
                "price": "1.00", "total": "6.00", "duration": 60});
            replier.upload_data(&reply.to_string()).unwrap();
        }
    })));
    wait_until(WAIT, "login", || sim.logged_in(PARK_ID) == 1);
    let request = json!({"service_name": "query_price", "pay_scene": 1, "car_number": "京A54321",
        "order_id": "ord_q", "query_order_no": "qn1", "out_channel_id": "B1"});
    assert_eq!(sim.push(PARK_ID, &request), 1);
    let reply = sim
        .wait_for(WAIT, |r| r.service_name == "query_price")
        .unwrap();
    assert_eq!(reply.data["query_order_no"], "qn1");
    assert_eq!(reply.data["state"], 1);
    assert!(reply.answer.is_none(), "replies get no answer");
    assert_eq!(
        threads.lock().unwrap()[0].as_deref(),
        Some("bolink-dispatch")
    );
    wait_until(WAIT, "outbox empty", || {
        client.status()["outbox"]["pending"] == 0
    });
}

#[test]
fn without_a_callback_messages_wait_for_poll_in_order() {
    let sim = sim();
    let (_client, downstream) = start(&init_json(&sim));
    wait_until(WAIT, "login", || sim.logged_in(PARK_ID) == 1);
    for n in 0..3 {
        sim.push(
            PARK_ID,
            &json!({"service_name": "lock_car", "order_id": format!("o{n}"), "is_locked": 1}),
        );
    }
    for n in 0..3 {
        let message: Value =
            serde_json::from_str(&downstream.poll(WAIT).expect("a message")).unwrap();
        assert_eq!(message["order_id"], format!("o{n}"));
    }
    assert!(downstream.poll(Duration::from_millis(100)).is_none());
}

#[test]
fn balances_pushed_by_the_cloud_answer_pay_status() {
    let sim = sim();
    let (client, downstream) = start(&init_json(&sim));
    let got = collector(&downstream);
    wait_until(WAIT, "login", || sim.logged_in(PARK_ID) == 1);
    sim.push(PARK_ID, &json!({"service_name": "update_balance", "car_number": "京B12345", "balance": "88.50", "autopay": 1}));
    wait_until(WAIT, "balance delivered", || {
        !got.lock().unwrap().is_empty()
    });
    let status = client
        .pay_status(r#"{"service_name":"pay_status","car_number":"京B12345","order_id":"o1"}"#)
        .unwrap();
    assert_eq!(
        (
            status["is_exist"].clone(),
            status["balance"].clone(),
            status["autopay"].clone()
        ),
        (json!(1), json!("88.50"), json!(1))
    );
    assert_eq!(status["net_status"], 1);
    let unknown = client
        .pay_status(r#"{"service_name":"pay_status","car_number":"京C00000"}"#)
        .unwrap();
    assert_eq!(
        (unknown["is_exist"].clone(), unknown["balance"].clone()),
        (json!(0), json!(""))
    );
}

#[test]
fn a_sync_upload_returns_the_servers_answer() {
    let sim = sim();
    let (client, _) = start(&init_json(&sim));
    let query = json!({"service_name": "query_month_card_page", "data_target": "cloud",
        "car_number": "京A54321", "random_str": "r1", "card_id": "c1", "page": 1, "rp": 20});
    let answer = client.upload_data(&query.to_string()).unwrap();
    assert_eq!(answer["service_name"], "query_month_card_page");
    assert_eq!(answer["state"], 1);
    assert_eq!(answer["card_id"], "c1");
    let gate = json!({"service_name": "upload_gate", "data_target": "cloud", "channel_id": "A1", "operate_type": 1});
    let answer = client.upload_data_sync(&gate.to_string(), WAIT).unwrap();
    assert_eq!(
        (answer["service_name"].clone(), answer["channel_id"].clone()),
        (json!("upload_gate"), json!("A1"))
    );
}

#[test]
fn bad_input_gets_an_error_naming_the_problem() {
    let sim = sim();
    let (client, _) = start(&init_json(&sim));
    let cases: Vec<(Value, ErrCode, &str)> = vec![
        (
            json!({"car_number": "京A1"}),
            ErrCode::MissingField,
            "in_time",
        ),
        (
            {
                let mut e = entry("bad-id");
                e["order_id"] = "a-b".into();
                e
            },
            ErrCode::InvalidField,
            "order_id",
        ),
        (
            {
                let mut e = entry("x");
                e["car_number"] = "京A123456789".into();
                e
            },
            ErrCode::InvalidField,
            "car_number",
        ),
        (
            {
                let mut e = entry("x");
                e["in_time"] = "yesterday".into();
                e
            },
            ErrCode::InvalidField,
            "in_time",
        ),
        (
            {
                let mut e = entry("x");
                e["car_cost_type"] = 12.into();
                e
            },
            ErrCode::InvalidField,
            "car_cost_type",
        ),
    ];
    for (input, code, field) in cases {
        let e = client.upload_in_park(&input.to_string()).unwrap_err();
        assert_eq!(e.code, code, "{input}: {e}");
        assert!(e.message.contains(field), "{e} should name {field}");
    }
    let mut sweep = exit("x");
    sweep["pay_type"] = "sweepcode".into();
    assert!(
        client
            .upload_out_park(&sweep.to_string())
            .unwrap_err()
            .message
            .contains("auth_code")
    );
    let e = client
        .upload_data(r#"{"service_name":"upload_gate"}"#)
        .unwrap_err();
    assert!(e.message.contains("data_target"), "{e}");
    let e = client
        .upload_data(r#"{"service_name":"upload_gate","data_target":"mars"}"#)
        .unwrap_err();
    assert!(e.message.contains("cloud"), "{e}");
    let e = client
        .upload_data(r#"{"service_name":"upload_gate","data_target":"cloud","operate_type":1}"#)
        .unwrap_err();
    assert!(e.message.contains("channel_id"), "{e}");
    assert_eq!(
        client.upload_data("[1,2]").unwrap_err().code,
        ErrCode::MalformedJson
    );
    assert_eq!(
        client.upload_data("{\"a\":").unwrap_err().code,
        ErrCode::MalformedJson
    );
    assert_eq!(
        client.status()["outbox"]["pending"],
        0,
        "nothing invalid was queued"
    );
}

#[test]
fn a_refusal_for_good_is_reported_and_set_aside() {
    let sim = sim();
    sim.set_refuse("upload_gate", Some("error:通道不存在"));
    sim.set_refuse("in_park", Some("error:车型不存在"));
    let (client, downstream) = start(&init_json(&sim));
    let got = collector(&downstream);
    let gate = json!({"service_name": "upload_gate", "data_target": "cloud", "channel_id": "Z9", "operate_type": 1});
    client.upload_data(&gate.to_string()).unwrap();
    client.upload_in_park(&entry("ord_r").to_string()).unwrap();
    let collector_upload = json!({"service_name": "upload_collector", "data_target": "cloud", "user_id": "u1", "operate_type": 1});
    client.upload_data(&collector_upload.to_string()).unwrap();

    wait_until(WAIT, "three answers", || got.lock().unwrap().len() == 3);
    let answers = got.lock().unwrap().clone();
    assert_eq!(
        (
            answers[0]["channel_id"].clone(),
            answers[0]["state"].clone()
        ),
        (json!("Z9"), json!(0))
    );
    assert_eq!(answers[0]["errmsg"], "error:通道不存在");
    assert_eq!(
        answers[1]["service_name"], "in_park",
        "a refused entry is not swallowed"
    );
    assert_eq!(answers[1]["order_id"], "ord_r");
    assert_eq!(answers[2]["state"], 1, "later messages still go");
    let outbox = client.status()["outbox"].clone();
    assert_eq!(
        (outbox["pending"].clone(), outbox["rejected"].clone()),
        (json!(0), json!(2))
    );
    assert_eq!(
        sim.received()
            .iter()
            .filter(|r| r.service_name == "upload_gate")
            .count(),
        1,
        "not retried"
    );
}

#[test]
fn a_message_never_answered_is_tried_three_times_then_set_aside() {
    let sim = sim();
    sim.set_silent("upload_price", true);
    let mut init = init_json(&sim);
    init["answer_timeout_secs"] = 1.into();
    let (client, downstream) = start(&init);
    let got = collector(&downstream);
    let price = json!({"service_name": "upload_price", "data_target": "cloud", "price_id": "p1", "car_type": "小车", "operate_type": 1});
    client.upload_data(&price.to_string()).unwrap();
    let gate = json!({"service_name": "upload_gate", "data_target": "cloud", "channel_id": "A1", "operate_type": 1});
    client.upload_data(&gate.to_string()).unwrap();

    wait_until(Duration::from_secs(30), "two reports", || {
        got.lock().unwrap().len() == 2
    });
    let answers = got.lock().unwrap().clone();
    let report = answers
        .iter()
        .find(|a| a["service_name"] == "upload_price")
        .expect("reported");
    assert_eq!(report["state"], 0);
    assert!(
        report["errmsg"].as_str().unwrap().contains("no answer"),
        "{report}"
    );
    assert!(
        answers
            .iter()
            .any(|a| a["service_name"] == "upload_gate" && a["state"] == 1)
    );
    assert_eq!(
        sim.received()
            .iter()
            .filter(|r| r.service_name == "upload_price")
            .count(),
        3
    );
    assert_eq!(client.status()["outbox"]["rejected"], 1);
}

#[test]
fn a_message_that_arrives_with_the_login_answer_is_not_lost() {
    let greeting = json!({"service_name": "lock_car", "order_id": "early", "is_locked": 1});
    let sim = sim_with(|config| config.login_greeting = Some(greeting.clone()));
    let downstream = Downstream::new();
    let got = collector(&downstream);
    let _client = Client::start(&init_json(&sim).to_string(), downstream).unwrap();
    wait_until(WAIT, "the greeting", || !got.lock().unwrap().is_empty());
    assert_eq!(got.lock().unwrap()[0], greeting);
}
