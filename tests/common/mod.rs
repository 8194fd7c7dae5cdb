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

/// A small, complete baseline JPEG (one 8×8 grey block) carrying `comment` in a COM segment, so
/// that pictures differ byte for byte.
pub fn jpeg(comment: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8];
    push_jpeg_segment(&mut bytes, 0xFE, comment.as_bytes());
    let mut quant = vec![0x00];
    quant.extend([1u8; 64]);
    push_jpeg_segment(&mut bytes, 0xDB, &quant);
    push_jpeg_segment(&mut bytes, 0xC0, &[8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
    // One Huffman code each, of length 1: DC difference 0, and end-of-block.
    let mut counts = vec![1u8];
    counts.resize(16, 0);
    for class in [0x00u8, 0x10] {
        let mut table = vec![class];
        table.extend(&counts);
        table.push(0);
        push_jpeg_segment(&mut bytes, 0xC4, &table);
    }
    push_jpeg_segment(&mut bytes, 0xDA, &[1, 1, 0x00, 0, 63, 0]);
    // Two zero bits (DC 0, end-of-block), padded with ones.
    bytes.extend([0x3F, 0xFF, 0xD9]);
    bytes
}

/// A valid JPEG of exactly `len` bytes: [`jpeg`] padded with COM segments of filler.
pub fn jpeg_sized(len: usize) -> Vec<u8> {
    let picture = jpeg("");
    let mut extra = len
        .checked_sub(picture.len())
        .expect("len above the bare picture");
    assert!(
        extra == 0 || extra >= 4,
        "a COM segment needs 4 bytes at least"
    );
    let mut padding = Vec::with_capacity(extra);
    let mut seed = 7u32;
    while extra > 0 {
        let mut payload = (extra - 4).min(65_533);
        // Never leave fewer than 4 bytes, which no segment could fill.
        if (1..4).contains(&(extra - 4 - payload)) {
            payload -= 4;
        }
        let filler: Vec<u8> = (0..payload)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as u8 & 0x7F
            })
            .collect();
        push_jpeg_segment(&mut padding, 0xFE, &filler);
        extra -= payload + 4;
    }
    let mut bytes = picture[..2].to_vec();
    bytes.extend(padding);
    bytes.extend(&picture[2..]);
    assert_eq!(bytes.len(), len);
    bytes
}

fn push_jpeg_segment(bytes: &mut Vec<u8>, marker: u8, payload: &[u8]) {
    bytes.extend([0xFF, marker]);
    bytes.extend(((payload.len() + 2) as u16).to_be_bytes());
    bytes.extend(payload);
}

/// A complete 1×1 grey PNG picture.
pub fn png() -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut header = Vec::new();
    header.extend(1u32.to_be_bytes());
    header.extend(1u32.to_be_bytes());
    header.extend([8, 0, 0, 0, 0]);
    push_png_chunk(&mut bytes, b"IHDR", &header);
    // zlib, one stored block: filter byte 0 and one grey pixel, then the Adler-32 of both.
    let pixels = [
        0x78, 0x01, 0x01, 0x02, 0x00, 0xFD, 0xFF, 0x00, 0x80, 0x00, 0x82, 0x00, 0x81,
    ];
    push_png_chunk(&mut bytes, b"IDAT", &pixels);
    push_png_chunk(&mut bytes, b"IEND", &[]);
    bytes
}

fn push_png_chunk(bytes: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    bytes.extend((data.len() as u32).to_be_bytes());
    let start = bytes.len();
    bytes.extend(kind);
    bytes.extend(data);
    let crc = crc32(&bytes[start..]);
    bytes.extend(crc.to_be_bytes());
}

/// CRC-32 as PNG uses it (polynomial 0xEDB88320), bit by bit: the chunks are tiny.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

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
