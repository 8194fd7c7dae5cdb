//! What durability costs a host: `bolink_upload_data` called in a loop through the C ABI, from 1
//! and from 8 host threads, with the outbox in memory (`"data_dir":""`) and on disk (SQLite, WAL,
//! `synchronous=FULL`: every call that returns is flushed to the disk). Prints accepted calls per
//! second and the median and 99th-percentile call latency of each run, and the ratios.
//!
//!     cargo run --release --example bench_outbox [calls_per_run] [data_parent_dir]
//!
//! `calls_per_run` (default 2000) is shared by the threads of a run. The data directories are
//! made under `data_parent_dir` (default: the system's temp directory) and removed afterwards;
//! point it at the disk the parking host will use, since the figures are mostly that disk's
//! flush time. The SDK is logged in to an embedded bolink-sim with the protocol's rate limits, so
//! messages pile up in the outbox as they would in a busy park.

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bolink::ffi::api::{
    bolink_free_string, bolink_init, bolink_status, bolink_uninit, bolink_upload_data,
};
use bolink_sim::{Park, Sim, SimConfig};
use serde_json::{Value, json};

const UNION_ID: &str = "200208";
const PARK_ID: &str = "21835";
const UKEY: &str = "8403A41ED5EF20BC";

struct Run {
    threads: usize,
    durable: bool,
    calls: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: usize = args
        .next()
        .map(|n| n.parse().expect("calls_per_run is a number"))
        .unwrap_or(2000);
    let parent = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);

    let sim = Sim::start(SimConfig {
        parks: vec![Park::new(UNION_ID, PARK_ID, UKEY)],
        ..SimConfig::default()
    })
    .expect("the simulator starts");

    let mut runs = Vec::new();
    for threads in [1, 8] {
        for durable in [false, true] {
            let dir = parent.join(format!("bolink-bench-{}-{threads}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            runs.push(run(&sim, durable.then_some(dir.as_path()), threads, calls));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    println!();
    println!("bolink_upload_data (park_log, ~150 bytes), {calls} calls per run");
    println!(
        "outbox on: SQLite WAL, synchronous=FULL, under {}",
        parent.display()
    );
    println!();
    println!(
        "{:>7}  {:<10}  {:>7}  {:>10}  {:>9}  {:>9}",
        "threads", "outbox", "calls", "calls/s", "p50 us", "p99 us"
    );
    for r in &runs {
        println!(
            "{:>7}  {:<10}  {:>7}  {:>10.0}  {:>9.1}  {:>9.1}",
            r.threads,
            if r.durable { "on (disk)" } else { "off (mem)" },
            r.calls,
            r.per_second,
            micros(r.p50),
            micros(r.p99)
        );
    }
    println!();
    for threads in [1, 8] {
        let of = |durable: bool| {
            runs.iter()
                .find(|r| r.threads == threads && r.durable == durable)
                .expect("every run was made")
        };
        let (off, on) = (of(false), of(true));
        println!(
            "{threads} thread(s): durability keeps {:.1}% of the calls/s (1/{:.0}); p50 x{:.0}, \
             p99 x{:.0}",
            100.0 * on.per_second / off.per_second,
            off.per_second / on.per_second,
            micros(on.p50) / micros(off.p50),
            micros(on.p99) / micros(off.p99)
        );
    }
}

/// One run: init, `calls` uploads spread over `threads` threads started together, uninit.
fn run(sim: &Sim, data_dir: Option<&Path>, threads: usize, calls: usize) -> Run {
    let init = json!({
        "union_id": UNION_ID,
        "ukey": UKEY,
        "park_id": PARK_ID,
        "cloud_addr": "127.0.0.1",
        "cport": sim.cloud_port(),
        "mac": "a1b2c3d4e5f6",
        "data_dir": data_dir.map_or(String::new(), |d| d.display().to_string()),
        "outbox_max": 10_000_000,
    });
    let answer = call(|| unsafe { bolink_init(c(&init.to_string()).as_ptr()) });
    assert_eq!(answer["state"], 1, "init: {answer}");
    let status = call(|| bolink_status());
    assert_eq!(
        status["outbox"]["persistent"],
        data_dir.is_some(),
        "{status}"
    );

    let per_thread = calls / threads;
    let start = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let messages: Vec<CString> = (0..per_thread)
                    .map(|n| {
                        let log = json!({
                            "service_name": "park_log",
                            "data_target": "cloud",
                            "log_id": format!("bench-{t}-{n}"),
                            "operate_time": 1700000000,
                            "content": "barrier lifted by the operator at lane A1",
                        });
                        c(&log.to_string())
                    })
                    .collect();
                let mut latencies = Vec::with_capacity(per_thread);
                start.wait();
                for message in &messages {
                    let began = Instant::now();
                    let answer = unsafe { bolink_upload_data(message.as_ptr()) };
                    let took = began.elapsed();
                    let text = unsafe { CStr::from_ptr(answer) }
                        .to_string_lossy()
                        .into_owned();
                    unsafe { bolink_free_string(answer) };
                    assert!(text.contains("\"errcode\":0"), "upload refused: {text}");
                    latencies.push(took);
                }
                latencies
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let mut latencies: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("a worker panicked"))
        .collect();
    let wall = began.elapsed();

    let answer = call(|| bolink_uninit());
    assert_eq!(answer["state"], 1, "uninit: {answer}");
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Run {
        threads,
        durable: data_dir.is_some(),
        calls: latencies.len(),
        per_second: latencies.len() as f64 / wall.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// Calls an export that returns an owned JSON string, frees it, returns it parsed.
fn call(export: impl FnOnce() -> *mut std::ffi::c_char) -> Value {
    let answer = export();
    assert!(!answer.is_null());
    let text = unsafe { CStr::from_ptr(answer) }
        .to_string_lossy()
        .into_owned();
    unsafe { bolink_free_string(answer) };
    serde_json::from_str(&text).expect("a JSON answer")
}

fn c(text: &str) -> CString {
    CString::new(text).expect("no NUL inside")
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
