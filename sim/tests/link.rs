//! The SDK link over real sockets: login, heartbeat, checks, answers, pushes, staged failures.

mod common;

use std::time::Duration;

use bolink_sim::{LinkKind, Sim, SimConfig};
use common::{CKEY, Client, Frame, PARK_ID, UKEY, config, entry, login_data};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn login_with_the_right_sign_gets_a_token() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::connect(sim.cloud_port());

    let answer = client.login(login_data("0071cc97102b_1001_gate1"), UKEY);

    assert_eq!(answer["state"], 1);
    assert_eq!(answer["service_name"], "login");
    let token = answer["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(sim.logged_in(PARK_ID), 1);
    let login = sim.wait_for(WAIT, |r| r.service_name == "login").unwrap();
    assert_eq!(login.seq, 1);
    assert_eq!(login.park_id.as_deref(), Some(PARK_ID));
    assert_eq!(login.answer.unwrap()["state"], 1);
    assert_eq!(
        sim.sessions()[0].local_id.as_deref(),
        Some("0071cc97102b_1001_gate1")
    );
}

#[test]
fn legacy_cloud_login_may_use_the_ckey_but_bolink_may_not() {
    let sim = Sim::start(config()).unwrap();
    let legacy = json!({"park_id":PARK_ID,"local_id":"m_2000_gate1"});

    let mut cloud = Client::connect(sim.cloud_port());
    assert_eq!(cloud.login(legacy.clone(), CKEY)["state"], 1);
    // Later messages of that session are signed with the ckey.
    assert_eq!(
        cloud.call("upload_collector", &json!({"user_id":"u1"}))["state"],
        1
    );

    let mut bolink = Client::connect(sim.bolink_port());
    let refused = bolink.login(login_data("m_2000_gate1"), CKEY);
    assert_eq!(refused["errmsg"], "error:签名错误");
    assert_eq!(bolink.read_frame(), Frame::Closed);
}

#[test]
fn login_with_a_bad_sign_is_refused_and_closed() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::connect(sim.cloud_port());

    let answer = client.login(login_data("m_2000_gate1"), "WRONGKEY");

    assert_eq!(
        answer,
        json!({"state":0,"errmsg":"error:签名错误","service_name":"login"})
    );
    assert_eq!(client.read_frame(), Frame::Closed);
    assert_eq!(sim.logged_in(PARK_ID), 0);
}

#[test]
fn login_to_an_unknown_park_is_refused_and_closed() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::connect(sim.bolink_port());

    let answer = client.login(json!({"union_id":"200208","park_id":"99999"}), UKEY);

    assert_eq!(
        answer,
        json!({"state":0,"errmsg":"error:云平台车场不存在","service_name":"login"})
    );
    assert_eq!(client.read_frame(), Frame::Closed);
}

#[test]
fn heartbeat_is_answered_only_after_login() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::connect(sim.cloud_port());

    client.send_raw(b"\x11\n");
    // The login answer must be the first thing that comes back.
    assert_eq!(client.login(login_data("m_2000_gate1"), UKEY)["state"], 1);

    client.send_raw(b"\x11\r\n");
    assert_eq!(client.read_frame(), Frame::Heartbeat);
    // Heartbeats are not recorded.
    assert_eq!(sim.received().len(), 1);
}

#[test]
fn a_wrong_token_is_refused_and_the_connection_closed() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);
    client.token = "0".repeat(32);

    let answer = client.call("in_park", &entry("o1"));

    assert_eq!(
        answer,
        json!({"service_name":"in_park","state":0,"errmsg":"error:token无效"})
    );
    assert_eq!(client.read_frame(), Frame::Closed);
    assert_eq!(sim.logged_in(PARK_ID), 0);
}

#[test]
fn a_message_before_login_is_refused_for_its_token() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::connect(sim.cloud_port());

    let answer = client.call("in_park", &entry("o1"));

    assert_eq!(answer["errmsg"], "error:token无效");
    assert_eq!(client.read_frame(), Frame::Closed);
}

#[test]
fn a_wrong_sign_is_refused_and_the_connection_kept() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);
    let data = entry("o1");
    let message =
        json!({"service_name":"in_park","sign":"0".repeat(32),"token":client.token,"data":data});

    client.send_line(&message.to_string());

    let answer = client.expect_message();
    assert_eq!(
        answer,
        json!({"service_name":"in_park","state":0,"errmsg":"error:签名错误","order_id":"o1"})
    );
    assert_eq!(client.call("in_park", &data)["state"], 1);
}

#[test]
fn uploads_are_answered_with_their_keys_echoed() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);

    let entered = client.call("in_park", &entry("o1"));
    let collector = client.call(
        "upload_collector",
        &json!({"user_id":"u7","operate_type":1}),
    );
    let unknown = client.call("some_new_service", &json!({"x":1}));
    let no_car = client.call("in_park", &json!({"order_id":"o2"}));
    let no_order = client.call("outpark", &json!({"car_number":"京A1"}));
    let image = client.call("upload_carpic", &json!({"order_id":"o1"}));

    assert_eq!(
        entered,
        json!({"service_name":"in_park","state":1,"errmsg":"success","order_id":"o1"})
    );
    assert_eq!(
        collector,
        json!({"service_name":"upload_collector","state":1,"errmsg":"success","user_id":"u7"})
    );
    assert_eq!(
        unknown,
        json!({"service_name":"some_new_service","state":1,"errmsg":"success"})
    );
    assert_eq!(no_car["errmsg"], "error:缺少参数car_number");
    assert_eq!(no_car["state"], 0);
    assert_eq!(
        no_order,
        json!({"service_name":"outpark","state":0,"errmsg":"error:缺少参数order_id"})
    );
    assert_eq!(image["errmsg"], "error:图片请走http上传");
    let records: Vec<_> = sim
        .received()
        .iter()
        .map(|r| r.service_name.clone())
        .collect();
    assert_eq!(records.len(), 7);
}

#[test]
fn malformed_lines_are_answered_and_not_recorded() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);

    client.send_line("{not json");

    assert_eq!(
        client.expect_message(),
        json!({"state":0,"errmsg":"error:数据格式错误"})
    );
    assert_eq!(sim.received().len(), 1);
}

#[test]
fn a_resent_order_is_answered_as_a_duplicate_across_sessions() {
    let sim = Sim::start(config()).unwrap();
    let data = entry("o1");
    let mut first = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);
    assert_eq!(first.call("in_park", &data)["state"], 1);
    drop(first);

    let mut second = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);
    let answer = second.call("in_park", &data);

    assert_eq!(
        answer,
        json!({"service_name":"in_park","state":0,"errmsg":"数据已处理过","order_id":"o1"})
    );
    let in_parks = sim
        .received()
        .into_iter()
        .filter(|r| r.service_name == "in_park")
        .count();
    assert_eq!(in_parks, 2);
}

#[test]
fn too_many_messages_in_ten_seconds_are_refused() {
    let sim = Sim::start(SimConfig {
        rate_limit_per_10s: Some(3),
        ..config()
    })
    .unwrap();
    let mut client = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);

    for n in 0..3 {
        assert_eq!(client.call("park_log", &json!({"log_id":n}))["state"], 1);
    }
    let answer = client.call("park_log", &json!({"log_id":3}));

    assert_eq!(
        answer,
        json!({"service_name":"park_log","state":0,"errmsg":"request_over_times","log_id":3})
    );
    // Heartbeats do not count and are still answered.
    client.send_raw(b"\x11\n");
    assert_eq!(client.read_frame(), Frame::Heartbeat);
}

#[test]
fn a_push_reaches_the_session_and_its_reply_is_recorded_unanswered() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);
    let query =
        json!({"service_name":"query_price","pay_scene":1,"order_id":"o1","query_order_no":"q9"});

    assert_eq!(sim.push(PARK_ID, &query), 1);
    assert_eq!(client.expect_message(), query);

    let reply = json!({"service_name":"query_price","data_target":"bolink","state":1,
        "order_id":"o1","query_order_no":"q9","price":"1.00"});
    client.send("query_price", &reply);
    let recorded = sim
        .wait_for(WAIT, |r| r.service_name == "query_price")
        .unwrap();
    assert_eq!(recorded.answer, None);
    assert_eq!(recorded.data, reply);
    // The next answer is that of the next message: the reply got none.
    assert_eq!(
        client.call("park_log", &json!({"log_id":"1"}))["service_name"],
        "park_log"
    );
    assert_eq!(sim.pushed().len(), 1);
    assert_eq!(sim.pushed()[0].sessions, 1);
}

#[test]
fn payment_pushes_go_to_the_bolink_link_when_there_is_one() {
    let sim = Sim::start(config()).unwrap();
    let legacy = json!({"park_id":PARK_ID,"local_id":"m_2000_gate1"});
    let mut cloud = Client::logged_in(sim.cloud_port(), legacy, CKEY);
    let mut bolink = Client::logged_in(sim.bolink_port(), login_data("m_2000_gate1"), UKEY);

    assert_eq!(
        sim.push(
            PARK_ID,
            &json!({"service_name":"prepay_order","order_id":"o1"})
        ),
        1
    );
    assert_eq!(
        sim.push(PARK_ID, &json!({"service_name":"lock_car","order_id":"o1"})),
        1
    );

    assert_eq!(bolink.expect_message()["service_name"], "prepay_order");
    assert_eq!(cloud.expect_message()["service_name"], "lock_car");
    assert_eq!(sim.logged_in(PARK_ID), 2);
}

#[test]
fn auto_query_price_follows_an_accepted_entry() {
    let sim = Sim::start(SimConfig {
        auto_query_price: true,
        ..config()
    })
    .unwrap();
    let mut client = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);

    assert_eq!(client.call("in_park", &entry("o5"))["state"], 1);
    let query = client.expect_message();

    assert_eq!(
        query,
        json!({"service_name":"query_price","pay_scene":1,"car_number":"京A12345",
            "order_id":"o5","query_order_no":"q1","out_channel_id":"B1"})
    );
}

#[test]
fn drop_every_closes_after_recording_without_answering() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);
    sim.set_drop_every(Some(2));

    assert_eq!(client.call("in_park", &entry("o1"))["state"], 1);
    client.send("in_park", &entry("o2"));

    assert_eq!(client.read_frame(), Frame::Closed);
    let dropped = sim.wait_for(WAIT, |r| r.data["order_id"] == "o2").unwrap();
    assert_eq!(dropped.answer, None);

    // It was processed: the resend is a duplicate.
    sim.set_drop_every(None);
    let mut again = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);
    assert_eq!(
        again.call("in_park", &entry("o2"))["errmsg"],
        "数据已处理过"
    );
}

#[test]
fn refusing_connections_closes_live_ones_and_new_ones() {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);

    sim.set_accepting(false);
    assert_eq!(client.read_frame(), Frame::Closed);
    assert_eq!(sim.logged_in(PARK_ID), 0);
    let mut refused = Client::connect(sim.bolink_port());
    assert_eq!(refused.read_frame(), Frame::Closed);

    sim.set_accepting(true);
    let _back = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);
    assert_eq!(sim.logged_in(PARK_ID), 1);

    sim.drop_connections();
    assert_eq!(sim.logged_in(PARK_ID), 0);
}

#[test]
fn stopping_closes_every_socket() {
    let sim = Sim::start(config()).unwrap();
    let port = sim.cloud_port();
    let mut client = Client::logged_in(port, login_data("m_2000_gate1"), UKEY);

    sim.stop();

    assert_eq!(client.read_frame(), Frame::Closed);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn records_say_which_listener_they_came_in_on() {
    let sim = Sim::start(config()).unwrap();
    let _bolink = Client::logged_in(sim.bolink_port(), login_data("m_2000_gate1"), UKEY);

    let login = sim.wait_for(WAIT, |r| r.service_name == "login").unwrap();

    assert_eq!(login.link, LinkKind::Bolink);
    assert!(
        sim.wait_for(Duration::from_millis(50), |r| r.link == LinkKind::Cloud)
            .is_none()
    );
}

#[test]
fn the_simulator_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Sim>();

    let sim = std::sync::Arc::new(Sim::start(config()).unwrap());
    let port = sim.cloud_port();
    let waiter = {
        let sim = sim.clone();
        std::thread::spawn(move || sim.wait_for(WAIT, |r| r.service_name == "login").is_some())
    };
    let _client = Client::logged_in(port, login_data("m_2000_gate1"), UKEY);

    assert!(waiter.join().unwrap());
}
