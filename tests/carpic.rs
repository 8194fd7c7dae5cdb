//! Vehicle images (2.12) against the simulator over real sockets: every picture source accepted
//! and stored, the checks that refuse an upload before it leaves the machine, the cloud's own
//! refusals, and images kept and sent again when the cloud cannot be reached.

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bolink::carpic::{self, Outcome};
use bolink::{Client, Downstream, ErrCode, LinkId};
use bolink_sim::Sim;
use common::*;
use serde_json::{Map, Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn start(init: &Value) -> (Client, Arc<Downstream>) {
    let downstream = Downstream::new();
    let client = Client::start(&init.to_string(), Arc::clone(&downstream)).expect("init accepted");
    (client, downstream)
}

/// A client logged in to `sim`.
fn logged_in(sim: &Sim) -> Client {
    let (client, _) = start(&init_json(sim));
    wait_until(WAIT, "login", || client.net_status() == 1);
    client
}

/// Uploads the entry of `order_id` and waits until the simulator has it.
fn enter(sim: &Sim, client: &Client, order_id: &str) {
    client
        .upload_in_park(&entry(order_id).to_string())
        .expect("entry accepted");
    sim.wait_for(WAIT, |r| {
        r.service_name == "in_park" && r.data["order_id"] == order_id
    })
    .expect("the simulator got the entry");
}

fn upload(client: &Client, message: &Value) -> bolink::Result<Value> {
    client.upload_data(&message.to_string())
}

fn images_received(sim: &Sim) -> usize {
    sim.received()
        .iter()
        .filter(|r| r.service_name == "upload_carpic")
        .count()
}

fn outbox(client: &Client) -> Value {
    client.status()["outbox"].clone()
}

/// How many images wait in the outbox to be sent again.
fn kept(client: &Client) -> usize {
    client
        .shared()
        .outbox
        .next_after(LinkId::Images, 0, 100)
        .len()
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn images_of_every_source_are_accepted_and_stored() {
    let sim = sim();
    let client = logged_in(&sim);
    enter(&sim, &client, "o1");

    let entry_jpeg = jpeg("entry o1");
    let answer = upload(&client, &carpic("order", "o1", &entry_jpeg)).unwrap();
    assert_eq!(
        answer,
        json!({"state": 1, "order_id": "o1", "errmsg": "上传成功"})
    );

    client
        .upload_out_park(&exit("o1").to_string())
        .expect("exit accepted");
    let exit_jpeg = jpeg("exit o1");
    let mut exit_image = carpic("order", "o1", &exit_jpeg);
    exit_image["park_order_type"] = "out".into();
    assert_eq!(upload(&client, &exit_image).unwrap()["state"], 1);

    let mut barrier = carpic("liftrod", "L7", &png());
    barrier["pic_type"] = "png".into();
    assert_eq!(upload(&client, &barrier).unwrap()["state"], 1);
    let mut event = carpic("confirm", "E9", &jpeg("event"));
    event["resume"] = "人工确认".into();
    assert_eq!(upload(&client, &event).unwrap()["state"], 1);
    assert_eq!(
        upload(&client, &carpic("capture", "U3", &jpeg("capture"))).unwrap()["state"],
        1
    );

    let images = sim.images();
    assert_eq!(images.len(), 5);
    let seen: Vec<_> = images
        .iter()
        .map(|i| {
            (
                i.picture_source.as_str(),
                i.order_id.as_deref(),
                i.park_order_type.as_deref(),
                i.liftrod_id.as_deref(),
                i.event_id.as_deref(),
                i.uuid.as_deref(),
                i.pic_type.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("order", Some("o1"), Some("in"), None, None, None, "jpg"),
            ("order", Some("o1"), Some("out"), None, None, None, "jpg"),
            ("liftrod", None, None, Some("L7"), None, None, "png"),
            ("confirm", None, None, None, Some("E9"), None, "jpg"),
            ("capture", None, None, None, None, Some("U3"), "jpg"),
        ]
    );
    assert_eq!(images[0].bytes, entry_jpeg);
    assert_eq!(images[1].bytes, exit_jpeg);
    assert_eq!(images[2].bytes, png());
    assert!(images.iter().all(|i| i.park_id == PARK_ID));

    // `data` is the caller's message as given, every field in its place.
    let record = sim
        .wait_for(WAIT, |r| r.service_name == "upload_carpic")
        .unwrap();
    let keys: Vec<&str> = record
        .data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "service_name",
            "data_target",
            "picture_source",
            "create_time",
            "car_number",
            "upload_type",
            "content_len",
            "order_id",
            "park_order_type"
        ]
    );
    assert_eq!(kept(&client), 0);
}

#[test]
fn the_limit_is_153600_decoded_bytes() {
    let sim = sim();
    let client = logged_in(&sim);

    let largest = jpeg_sized(153_600);
    let answer = upload(&client, &carpic("capture", "big", &largest)).unwrap();
    assert_eq!(answer["state"], 1, "{answer}");
    assert_eq!(sim.images()[0].bytes, largest);

    let error = upload(&client, &carpic("capture", "big", &jpeg_sized(153_601))).unwrap_err();
    assert_eq!(error.code, ErrCode::ImageTooLarge);
    assert_eq!(
        error.message,
        "image `content` decodes to 153601 bytes; the cloud accepts at most 153600 bytes \
         (150 KB): lower the JPEG quality or the resolution"
    );
    assert_eq!(images_received(&sim), 1, "the large image was never sent");
}

#[test]
fn invalid_uploads_are_refused_before_sending() {
    let sim = sim();
    let client = logged_in(&sim);
    enter(&sim, &client, "o1");

    let jpg = jpeg("x");
    let order = carpic("order", "o1", &jpg);
    let with = |changes: &[(&str, Value)]| {
        let mut message = order.clone();
        for (name, value) in changes {
            match value {
                Value::Null => {
                    message.as_object_mut().unwrap().remove(*name);
                }
                value => message[*name] = value.clone(),
            }
        }
        message
    };
    let text = STANDARD.encode(&jpg);
    let cases: Vec<(Value, ErrCode, String)> = vec![
        (
            with(&[("content", format!("{}*{}", &text[..8], &text[8..]).into())]),
            ErrCode::ImageInvalid,
            "image `content` is not valid Base64: character '*' at position 8 is not in the \
             standard Base64 alphabet (A-Z a-z 0-9 + /)"
                .into(),
        ),
        (
            with(&[("content", text[..text.len() - 2].into())]),
            ErrCode::ImageInvalid,
            format!(
                "image `content` is not valid Base64: it has {} Base64 characters, not a \
                 multiple of 4: the text is cut short or its `=` padding is missing",
                text.len() - 2
            ),
        ),
        (
            with(&[("content", STANDARD.encode(png()).into())]),
            ErrCode::ImageInvalid,
            "image `content` is a PNG picture but `pic_type` is absent (so \"jpg\"); set \
             `pic_type` to \"png\" or send a JPEG picture"
                .into(),
        ),
        (
            with(&[
                ("content", STANDARD.encode(png()).into()),
                ("pic_type", "jpg".into()),
            ]),
            ErrCode::ImageInvalid,
            "image `content` is a PNG picture but `pic_type` is \"jpg\"; set `pic_type` to \
             \"png\" or send a JPEG picture"
                .into(),
        ),
        (
            with(&[("order_id", Value::Null)]),
            ErrCode::MissingField,
            "missing required field `order_id`: picture_source \"order\" needs the id of the \
             order the image belongs to, as uploaded with the entry (2.1)"
                .into(),
        ),
        (
            with(&[("park_order_type", Value::Null)]),
            ErrCode::MissingField,
            "missing required field `park_order_type`: picture_source \"order\" needs \"in\" \
             for an entry image or \"out\" for an exit image"
                .into(),
        ),
        (
            with(&[("park_order_type", "exit".into())]),
            ErrCode::InvalidField,
            "field `park_order_type` is \"exit\"; it must be \"in\" (entry image) or \"out\" \
             (exit image)"
                .into(),
        ),
        (
            with(&[("picture_source", "liftrod".into())]),
            ErrCode::MissingField,
            "missing required field `liftrod_id`: picture_source \"liftrod\" needs the id of the \
             barrier record, as uploaded with 2.11"
                .into(),
        ),
        (
            with(&[("picture_source", "confirm".into())]),
            ErrCode::MissingField,
            "missing required field `event_id`: picture_source \"confirm\" needs the id of the \
             matching event, as uploaded with 2.17"
                .into(),
        ),
        (
            with(&[("picture_source", "capture".into())]),
            ErrCode::MissingField,
            "missing required field `uuid`: picture_source \"capture\" needs the `uuid` of the \
             lane capture request (3.31), unchanged"
                .into(),
        ),
        (
            with(&[("picture_source", "lane".into())]),
            ErrCode::InvalidField,
            "field `picture_source` is \"lane\"; it must be one of \"order\", \"liftrod\", \
             \"confirm\", \"capture\""
                .into(),
        ),
        (
            with(&[("picture_source", Value::Null)]),
            ErrCode::MissingField,
            "missing required field `picture_source`: say what the image shows, one of \
             \"order\", \"liftrod\", \"confirm\", \"capture\""
                .into(),
        ),
        (
            with(&[("create_time", 1700000000123u64.into())]),
            ErrCode::InvalidField,
            "field `create_time` is 1700000000123, which looks like milliseconds; it must be a \
             unix time in seconds, such as 1490875218"
                .into(),
        ),
        (
            with(&[("upload_type", "ftp".into())]),
            ErrCode::InvalidField,
            "field `upload_type` is \"ftp\"; images are posted over HTTP, so it must be \"http\""
                .into(),
        ),
        (
            with(&[("data_target", "bolink".into())]),
            ErrCode::InvalidField,
            "field `data_target` must be \"cloud\" for an image (upload_carpic); images are kept \
             by the cloud"
                .into(),
        ),
        (
            with(&[("order_id", "o".repeat(49).into())]),
            ErrCode::InvalidField,
            "field `order_id` is 49 characters long; at most 48 are allowed".into(),
        ),
        (
            with(&[("car_number", "京A5432109".into())]),
            ErrCode::InvalidField,
            "field `car_number` is 9 characters long; at most 8 are allowed".into(),
        ),
        (
            with(&[("pic_type", "bmp".into())]),
            ErrCode::InvalidField,
            "field `pic_type` is \"bmp\"; the cloud takes \"jpg\" (the default) or \"png\" \
             pictures"
                .into(),
        ),
        (
            with(&[("content", format!("data:image/jpeg;base64,{text}").into())]),
            ErrCode::ImageInvalid,
            "image `content` is not valid Base64: it starts with the data-URI prefix \
             \"data:image/jpeg;base64,\"; send the Base64 text alone, without the prefix"
                .into(),
        ),
        (
            with(&[("content", text.replace('+', "-").replace('/', "_").into())]),
            ErrCode::ImageInvalid,
            "`-` and `_` belong to the URL-safe alphabet, encode with the standard one".into(),
        ),
        (
            with(&[("content", STANDARD.encode(b"GIF89a\x01\x00\x01\x00").into())]),
            ErrCode::ImageInvalid,
            "image `content` decodes to a GIF picture; the cloud takes JPEG (starting FF D8 FF) \
             or PNG pictures"
                .into(),
        ),
        (
            with(&[("content", Value::Null)]),
            ErrCode::MissingField,
            "missing required field `content`: the picture file's bytes, Base64-encoded".into(),
        ),
        (
            with(&[("content", "".into())]),
            ErrCode::ImageInvalid,
            "image `content` is empty; it must hold the picture file's bytes, Base64-encoded"
                .into(),
        ),
    ];
    // The URL-safe case needs a `+` or `/` in the text to replace.
    assert!(text.contains(['+', '/']));

    for (message, code, expected) in cases {
        let error = upload(&client, &message).expect_err(&expected);
        assert_eq!(error.code, code, "{}", error.message);
        assert!(
            error.message.contains(&expected),
            "expected {expected:?}\n     got {:?}",
            error.message
        );
    }
    assert_eq!(
        images_received(&sim),
        0,
        "no invalid image left the machine"
    );
    assert_eq!(kept(&client), 0, "no invalid image was kept");
}

#[test]
fn line_broken_base64_is_sent_plain() {
    let sim = sim();
    let client = logged_in(&sim);
    let picture = jpeg_sized(1000);
    let plain = STANDARD.encode(&picture);
    // As Java's MIME encoder and Delphi's TNetEncoding write it: CRLF every 76 characters.
    let wrapped: Vec<&str> = plain
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let mut message = carpic("capture", "U1", &picture);
    message["content"] = wrapped.join("\r\n").into();

    assert_eq!(upload(&client, &message).unwrap()["state"], 1);
    assert_eq!(sim.images()[0].bytes, picture);
    let record = sim
        .wait_for(WAIT, |r| r.service_name == "upload_carpic")
        .unwrap();
    assert_eq!(record.data["content_len"], plain.len());
}

#[test]
fn a_refusal_by_the_cloud_is_answered_at_once_and_not_kept() {
    let sim = sim();
    let client = logged_in(&sim);

    // The cloud knows no entry for this order.
    let answer = upload(&client, &carpic("order", "never_entered", &jpeg("x"))).unwrap();
    assert_eq!(answer["state"], 0);
    assert_eq!(answer["errcode"], ErrCode::Refused as i32);
    assert_eq!(answer["errmsg"], "error:订单不存在");
    assert_eq!(answer["order_id"], "never_entered");
    assert_eq!(
        answer["detail"],
        "the cloud has no entry for this order: upload the entry (2.1) first and send the image \
         once the entry has been delivered"
    );
    assert!(answer.get("queued").is_none());
    assert_eq!(kept(&client), 0);
    assert!(sim.images().is_empty());
}

#[test]
fn an_unknown_token_is_refused_with_the_cloud_message() {
    let sim = sim();
    // Images go to another cloud than the one the link logged in to: it never issued the token.
    let other = common::sim();
    let mut init = init_json(&sim);
    let url = format!("http://127.0.0.1:{}/upload/carimgupload", other.http_port());
    init["image_url"] = url.clone().into();
    let (client, _) = start(&init);
    wait_until(WAIT, "login", || client.net_status() == 1);

    let answer = upload(&client, &carpic("capture", "U1", &jpeg("x"))).unwrap();
    assert_eq!(answer["state"], 0);
    assert_eq!(answer["errcode"], ErrCode::Refused as i32);
    assert_eq!(answer["errmsg"], "error:token无效");
    assert_eq!(answer["uuid"], "U1");
    assert_eq!(
        answer["detail"],
        format!(
            "the image endpoint {url} does not know the cloud link's token: check that \
             `image_url` belongs to the same cloud as `cloud_addr` (test or production)"
        )
    );
    assert_eq!(kept(&client), 0, "a refusal is not kept");
    assert!(other.images().is_empty() && sim.images().is_empty());
}

#[test]
fn a_wrong_sign_is_refused_with_the_cloud_message() {
    let sim = sim();
    let client = logged_in(&sim);
    let shared = client.shared();
    let token = shared.link(LinkId::Cloud).unwrap().token().unwrap();
    let message = carpic("capture", "U1", &jpeg("x"));
    let message = message.as_object().unwrap();
    let checked = carpic::check(message).unwrap();
    let data = carpic::data_text(message, &checked.content);
    let keys: Map<String, Value> = [("uuid".to_string(), json!("U1"))].into_iter().collect();

    let Outcome::Refused(answer) =
        carpic::post_data(shared, &data, &keys, &token, "NOT_THE_PARK_KEY", WAIT)
    else {
        panic!("a wrong sign is refused");
    };
    assert_eq!(answer["state"], 0);
    assert_eq!(answer["errcode"], ErrCode::Refused as i32);
    assert_eq!(answer["errmsg"], "error:签名错误");
    assert_eq!(answer["uuid"], "U1");
    assert_eq!(
        answer["detail"],
        "the cloud computed another sign over `data`: the park's key (`ukey`, or `ckey` in the \
         legacy mode) does not match the cloud's"
    );

    // The same data signed with the park's key goes through.
    let accepted = carpic::post_data(shared, &data, &keys, &token, UKEY, WAIT);
    assert!(matches!(accepted, Outcome::Accepted(_)), "{accepted:?}");
    assert_eq!(sim.images().len(), 1);
}

#[test]
fn without_a_cloud_login_the_image_is_kept_and_sent_after_login() {
    let sim = sim();
    sim.set_accepting(false);
    let (client, downstream) = start(&init_json(&sim));
    let got = collector(&downstream);

    let picture = jpeg("kept");
    let answer = upload(&client, &carpic("capture", "U5", &picture)).unwrap();
    assert_eq!(
        answer,
        json!({
            "state": 0,
            "errcode": ErrCode::LinkDown as i32,
            "errmsg": "the cloud link is not logged in yet; the image is kept and will be sent \
                       again",
            "queued": true,
            "picture_source": "capture",
            "uuid": "U5",
        })
    );
    assert_eq!(kept(&client), 1);

    sim.set_accepting(true);
    wait_until(WAIT, "the kept image stored", || sim.images().len() == 1);
    assert_eq!(sim.images()[0].bytes, picture);
    wait_until(WAIT, "the cloud's answer reported", || {
        !got.lock().unwrap().is_empty()
    });
    assert_eq!(
        got.lock().unwrap()[0],
        json!({
            "service_name": "upload_carpic",
            "state": 1,
            "errmsg": "上传成功",
            "picture_source": "capture",
            "uuid": "U5",
        })
    );
    wait_until(WAIT, "the outbox empty", || kept(&client) == 0);
}

#[test]
fn an_unreachable_endpoint_keeps_the_image_until_the_cloud_answers() {
    let sim = sim();
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/upload/carimgupload");
    let mut init = init_json(&sim);
    init["image_url"] = url.clone().into();
    let (client, downstream) = start(&init);
    let got = collector(&downstream);
    wait_until(WAIT, "login", || client.net_status() == 1);

    let answer = upload(&client, &carpic("capture", "U6", &jpeg("x"))).unwrap();
    assert_eq!(answer["state"], 0);
    assert_eq!(answer["errcode"], ErrCode::Network as i32);
    assert_eq!(answer["queued"], true);
    let errmsg = answer["errmsg"].as_str().unwrap();
    assert!(
        errmsg.starts_with(&format!("cannot connect to the image endpoint {url}: "))
            && errmsg.ends_with("; the image is kept and will be sent again"),
        "{errmsg}"
    );
    assert_eq!(kept(&client), 1);

    // A cloud appears at that address, but it never issued the link's token: the kept image is
    // refused for good, set aside, and the host is told.
    let other = sim_with(|c| c.http_addr = ([127, 0, 0, 1], port).into());
    wait_until(Duration::from_secs(20), "the refusal reported", || {
        !got.lock().unwrap().is_empty()
    });
    let report = got.lock().unwrap()[0].clone();
    assert_eq!(report["service_name"], "upload_carpic");
    assert_eq!(report["state"], 0);
    assert_eq!(report["errmsg"], "error:token无效");
    assert_eq!(report["uuid"], "U6");
    assert_eq!(kept(&client), 0);
    assert_eq!(outbox(&client)["rejected"], 1);
    assert!(other.images().is_empty());
}

#[test]
fn an_http_error_keeps_the_image() {
    let sim = sim();
    let url = format!("http://127.0.0.1:{}/no/such/page", sim.http_port());
    let mut init = init_json(&sim);
    init["image_url"] = url.clone().into();
    let (client, _) = start(&init);
    wait_until(WAIT, "login", || client.net_status() == 1);

    let answer = upload(&client, &carpic("capture", "U7", &jpeg("x"))).unwrap();
    assert_eq!(answer["state"], 0);
    assert_eq!(answer["errcode"], ErrCode::Http as i32);
    assert_eq!(answer["queued"], true);
    let errmsg = answer["errmsg"].as_str().unwrap();
    assert!(
        errmsg.starts_with(&format!(
            "the image endpoint {url} answered HTTP 404 Not Found"
        )),
        "{errmsg}"
    );
    assert_eq!(kept(&client), 1);
}

#[test]
fn a_silent_endpoint_times_out_and_keeps_the_image() {
    let sim = sim();
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let mut init = init_json(&sim);
    init["image_url"] = format!("http://127.0.0.1:{port}/upload/carimgupload").into();
    init["sync_timeout_ms"] = 500.into();
    let (client, _) = start(&init);
    wait_until(WAIT, "login", || client.net_status() == 1);

    let answer = upload(&client, &carpic("capture", "U8", &jpeg("x"))).unwrap();
    assert_eq!(answer["errcode"], ErrCode::Timeout as i32);
    assert_eq!(answer["queued"], true);
    assert_eq!(
        answer["errmsg"],
        format!(
            "no answer from the image endpoint http://127.0.0.1:{port}/upload/carimgupload \
             within 500 ms; the image is kept and will be sent again"
        )
    );

    // upload_data_sync's own timeout bounds the call.
    let message = carpic("capture", "U9", &jpeg("y")).to_string();
    let answer = client
        .upload_data_sync(&message, Duration::from_millis(300))
        .unwrap();
    assert_eq!(answer["errcode"], ErrCode::Timeout as i32);
    assert!(answer["errmsg"].as_str().unwrap().contains("within 300 ms"));
    assert_eq!(kept(&client), 2);
    client.stop();
}
