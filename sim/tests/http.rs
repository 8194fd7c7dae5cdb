//! The HTTP side over real sockets: image upload and its refusals, the page, the control API.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bolink_sim::{Sim, SimConfig, sign};
use common::{Client, PARK_ID, UKEY, config, entry, http, login_data};
use serde_json::{Value, json};

/// A tiny stand-in for a JPEG file: the magic, then filler.
fn jpeg(len: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(len, 0x42);
    bytes
}

fn image_data(order_id: &str, kind: &str, bytes: &[u8]) -> Value {
    json!({
        "service_name": "upload_carpic",
        "data_target": "cloud",
        "picture_source": "order",
        "order_id": order_id,
        "park_order_type": kind,
        "create_time": 1700000000,
        "car_number": "京A12345",
        "upload_type": "http",
        "content": STANDARD.encode(bytes),
    })
}

/// Posts `data` signed with `key` under `token` and returns the answer.
fn upload(sim: &Sim, token: &str, key: &str, data: &Value) -> Value {
    let body = json!({"token":token,"sign":sign(data, key),"data":data});
    let answer = http(
        sim.http_port(),
        "POST",
        "/upload/carimgupload",
        body.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200);
    answer.json()
}

/// A simulator with a logged-in cloud session that has entered order `o1`.
fn entered() -> (Sim, Client) {
    let sim = Sim::start(config()).unwrap();
    let mut client = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);
    assert_eq!(client.call("in_park", &entry("o1"))["state"], 1);
    (sim, client)
}

#[test]
fn an_image_of_an_entered_order_is_stored_served_and_shown() {
    let (sim, client) = entered();
    let bytes = jpeg(2000);

    let answer = upload(&sim, &client.token, UKEY, &image_data("o1", "in", &bytes));

    assert_eq!(
        answer,
        json!({"state":1,"order_id":"o1","errmsg":"上传成功"})
    );
    let images = sim.images();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].bytes, bytes);
    assert_eq!(images[0].park_order_type.as_deref(), Some("in"));

    let record = sim.received().pop().unwrap();
    assert_eq!(record.service_name, "upload_carpic");
    assert_eq!(record.data.get("content"), None);
    assert_eq!(record.data["content_len"], STANDARD.encode(&bytes).len());

    let served = http(
        sim.http_port(),
        "GET",
        &format!("/images/{}", images[0].id),
        b"",
    );
    assert_eq!(served.status, 200);
    assert_eq!(served.content_type, "image/jpeg");
    assert_eq!(served.body, bytes);
    assert_eq!(http(sim.http_port(), "GET", "/images/999", b"").status, 404);

    let page = http(sim.http_port(), "GET", "/", b"").text();
    assert!(page.contains("<title>bolink-sim</title>"));
    assert!(page.contains(&format!("src=\"/images/{}\"", images[0].id)));
    assert!(page.contains("data-order-id=\"o1\" data-kind=\"in\""));
    assert!(page.contains("京A12345"));
}

#[test]
fn the_legacy_address_takes_the_same_upload() {
    let (sim, client) = entered();
    let data = image_data("o1", "out", &jpeg(100));
    let body = json!({"service_name":"upload_carpic","token":client.token,"sign":sign(&data, UKEY),"data":data});

    let answer = http(
        sim.http_port(),
        "POST",
        "/zld/carpicsup.do?action=receivepic",
        body.to_string().as_bytes(),
    );

    assert_eq!(answer.json()["state"], 1);
}

#[test]
fn uploads_are_refused_for_each_broken_rule() {
    let (sim, client) = entered();
    let token = client.token.as_str();
    let good = image_data("o1", "in", &jpeg(100));
    let with = |field: &str, value: Value| {
        let mut data = good.clone();
        data[field] = value;
        data
    };
    let png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0];

    let cases = [
        ("0".repeat(32), UKEY, good.clone(), "error:token无效"),
        (token.to_owned(), "WRONG", good.clone(), "error:签名错误"),
        (
            token.to_owned(),
            UKEY,
            with("content", json!("***")),
            "error:图片数据不是有效的base64",
        ),
        (
            token.to_owned(),
            UKEY,
            with("content", json!(STANDARD.encode(jpeg(150 * 1024 + 1)))),
            "error:图片超过150k",
        ),
        (
            token.to_owned(),
            UKEY,
            with("pic_type", json!("png")),
            "error:图片格式与pic_type不符",
        ),
        (
            token.to_owned(),
            UKEY,
            with("content", json!(STANDARD.encode(png))),
            "error:图片格式与pic_type不符",
        ),
        (
            token.to_owned(),
            UKEY,
            with("park_order_type", json!("")),
            "error:缺少参数park_order_type",
        ),
        (
            token.to_owned(),
            UKEY,
            with("picture_source", json!("other")),
            "error:picture_source无效",
        ),
        (
            token.to_owned(),
            UKEY,
            with("order_id", json!("o404")),
            "error:订单不存在",
        ),
        (
            token.to_owned(),
            UKEY,
            json!({"picture_source":"liftrod","content":STANDARD.encode(jpeg(9))}),
            "error:缺少参数liftrod_id",
        ),
    ];

    for (token, key, data, errmsg) in cases {
        let answer = upload(&sim, &token, key, &data);
        assert_eq!(answer["state"], 0, "{errmsg}: {answer}");
        assert_eq!(answer["errmsg"], errmsg);
    }
    assert!(sim.images().is_empty());
    let mut png_data = with("content", json!(STANDARD.encode(png)));
    png_data["pic_type"] = json!("png");
    assert_eq!(upload(&sim, token, UKEY, &png_data)["state"], 1);
}

#[test]
fn images_older_than_the_retention_are_dropped() {
    let sim = Sim::start(SimConfig {
        image_retention: std::time::Duration::ZERO,
        ..config()
    })
    .unwrap();
    let client = Client::logged_in(sim.cloud_port(), login_data("m_2000_gate1"), UKEY);
    let data = json!({"picture_source":"capture","uuid":"u1","content":STANDARD.encode(jpeg(10))});

    assert_eq!(upload(&sim, &client.token, UKEY, &data)["state"], 1);
    std::thread::sleep(std::time::Duration::from_millis(5));

    assert!(sim.images().is_empty());
}

#[test]
fn the_control_api_lists_pushes_and_reports() {
    let (sim, mut client) = entered();
    let port = sim.http_port();

    let received = http(port, "GET", "/api/received?service_name=in_park", b"").json();
    assert_eq!(received.as_array().unwrap().len(), 1);
    assert_eq!(received[0]["link"], "cloud");
    assert_eq!(received[0]["data"]["order_id"], "o1");
    assert_eq!(received[0]["answer"]["state"], 1);
    let after = http(port, "GET", "/api/received?after=1", b"").json();
    assert_eq!(after[0]["seq"], 2);

    let message = json!({"service_name":"lock_car","order_id":"o1","is_locked":1});
    let pushed = http(
        port,
        "POST",
        &format!("/api/push?park_id={PARK_ID}"),
        message.to_string().as_bytes(),
    );
    assert_eq!(pushed.json(), json!({"sessions":1}));
    assert_eq!(client.expect_message(), message);

    let status = http(port, "GET", "/api/status", b"").json();
    assert_eq!(status["parks"][0]["park_id"], PARK_ID);
    assert_eq!(status["parks"][0]["logged_in"], 1);
    assert_eq!(status["received"], 2);
    assert_eq!(status["images"], 0);
    assert_eq!(http(port, "POST", "/api/push", b"{}").status, 400);
}
