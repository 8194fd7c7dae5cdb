//! Shared by the integration tests: a simulator with one park, init JSON for it, and the paths of
//! the built library and of C programs compiled against it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bolink_sim::{Park, Sim, SimConfig};
use serde_json::{Value, json};

pub const UNION_ID: &str = "200208";
pub const PARK_ID: &str = "21835";
pub const UKEY: &str = "8403A41ED5EF20BC";
pub const CKEY: &str = "C0FFEE0123456789";

/// A simulator that knows the test park (4.x and legacy keys).
pub fn sim() -> Sim {
    sim_with(|_| {})
}

pub fn sim_with(adjust: impl FnOnce(&mut SimConfig)) -> Sim {
    let mut config = SimConfig {
        parks: vec![Park::new(UNION_ID, PARK_ID, UKEY).with_ckey(CKEY)],
        ..SimConfig::default()
    };
    adjust(&mut config);
    Sim::start(config).expect("the simulator starts")
}

/// Init JSON for the 4.x mode against `sim`, persistence off, short timers for tests.
pub fn init_json(sim: &Sim) -> Value {
    json!({
        "union_id": UNION_ID,
        "ukey": UKEY,
        "park_id": PARK_ID,
        "cloud_addr": "127.0.0.1",
        "cport": sim.cloud_port(),
        "local_id": "gate1",
        "mac": "a1b2c3d4e5f6",
        "data_dir": "",
        "image_url": format!("http://127.0.0.1:{}/upload/carimgupload", sim.http_port()),
        "heartbeat_secs": 1,
        "reconnect_max_secs": 1,
        "rate_limit_per_10s": 0,
        "orders_per_second": 0,
    })
}

/// Init JSON for the legacy two-link mode.
pub fn legacy_init_json(sim: &Sim) -> Value {
    let mut init = init_json(sim);
    init["ckey"] = CKEY.into();
    init["bolink_addr"] = "127.0.0.1".into();
    init["bport"] = sim.bolink_port().into();
    init
}

/// An entry (2.1) for `order_id`.
pub fn entry(order_id: &str) -> Value {
    json!({
        "car_number": "京A54321",
        "in_time": 1700000000,
        "car_type": "小车",
        "c_type": "通道扫牌",
        "uid": "100",
        "order_id": order_id,
        "empty_plot": 20,
        "in_channel_id": "A1",
    })
}

/// A cash exit (2.2) for `order_id`.
pub fn exit(order_id: &str) -> Value {
    json!({
        "car_number": "京A54321",
        "in_time": 1700000000,
        "out_time": 1700003600,
        "uid": "100",
        "pay_type": "cash",
        "empty_plot": 21,
        "total": "5.00",
        "order_id": order_id,
        "car_type": "小车",
        "c_type": "通道扫牌",
        "out_uid": "100",
        "amount_receivable": "5.00",
    })
}

/// Collects every message handed to the receiver.
pub fn collector(downstream: &bolink::Downstream) -> std::sync::Arc<std::sync::Mutex<Vec<Value>>> {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&got);
    downstream.set_receiver(Some(std::sync::Arc::new(move |text: &str| {
        sink.lock()
            .unwrap()
            .push(serde_json::from_str(text).unwrap());
    })));
    got
}

/// Waits until `cond` holds, or panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The directory holding the built library (`target/<profile>`).
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles a C program from tests/c against include/bolink.h and the built library.
pub fn compile_c(source: &str, extra: &[&str]) -> PathBuf {
    // Tests run in parallel and may compile the same program: one compiler at a time.
    static COMPILING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
    let out_dir = lib_dir().join("c-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let stem = Path::new(source)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let out = out_dir.join(&stem);
    let status = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-pthread"])
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join("tests/c").join(source))
        .args(extra)
        .arg("-L")
        .arg(lib_dir())
        .arg(format!("-Wl,-rpath,{}", lib_dir().display()))
        .args(["-lbolink", "-o"])
        .arg(&out)
        .status()
        .expect("gcc runs (install build-essential)");
    assert!(status.success(), "gcc failed on tests/c/{source}");
    out
}

#[allow(unused_imports)]
pub use bolink_sim::picture::{jpeg, jpeg_sized, png};

/// An image upload (2.12) of `picture` (sent as standard Base64) for `source`, with the id
/// field that source needs set to `id`; `park_order_type` "in" for order images.
pub fn carpic(source: &str, id: &str, picture: &[u8]) -> Value {
    use base64::Engine;
    let mut message = json!({
        "service_name": "upload_carpic",
        "data_target": "cloud",
        "picture_source": source,
        "create_time": 1700000000,
        "car_number": "京A54321",
        "upload_type": "http",
        "content": base64::engine::general_purpose::STANDARD.encode(picture),
    });
    let id_field = match source {
        "order" => "order_id",
        "liftrod" => "liftrod_id",
        "confirm" => "event_id",
        _ => "uuid",
    };
    message[id_field] = id.into();
    if source == "order" {
        message["park_order_type"] = "in".into();
    }
    message
}
