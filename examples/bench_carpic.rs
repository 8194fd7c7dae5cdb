//! Image benchmark: a 150 KB JPEG uploaded to the simulator on loopback, three ways, each on one
//! host thread and on four:
//!
//! * L, the library: `Client::upload_data` end to end (parse, checks, sign, body, POST, answer);
//! * B, a bare POST of the identical prepared body (token, sign, data) with the same HTTP client;
//! * U, the work no implementation can skip: Base64 decode of `content` and MD5 over the body;
//! * M, the MD5 over the body alone: the sign. The library checks the Base64 without decoding
//!   it, so this is all of U it does;
//! * P, the library's work without the network: parse the caller's JSON, check it, build and
//!   sign the body. L is about B + P.
//!
//! Printed per run: uploads per second, and the process CPU time per upload (getrusage). The
//! simulator runs in a child process (this program started again with `--serve-sim`), so its
//! CPU time is not counted. Then the ratios L/B.
//!
//! Run with `cargo run --release --example bench_carpic [-- UPLOADS]` (default 400 a run).

use std::io::{BufRead, Read};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bolink::{Client, Downstream, LinkId, carpic};
use bolink_sim::{Park, Sim, SimConfig};
use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

const UNION_ID: &str = "200208";
const PARK_ID: &str = "21835";
const UKEY: &str = "8403A41ED5EF20BC";
const ORDER_ID: &str = "bench_o1";

/// The picture: the largest the cloud takes.
const PICTURE_BYTES: usize = 150 * 1024;

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--serve-sim") {
        return serve_sim();
    }
    let uploads: usize = first.and_then(|a| a.parse().ok()).unwrap_or(400);

    let sim = SimProcess::start()?;
    let url = format!("http://127.0.0.1:{}/upload/carimgupload", sim.http_port);
    let init = json!({
        "union_id": UNION_ID, "ukey": UKEY, "park_id": PARK_ID,
        "cloud_addr": "127.0.0.1", "cport": sim.cloud_port, "mac": "a1b2c3d4e5f6",
        "data_dir": "", "image_url": url, "sync_timeout_ms": 30_000,
        "rate_limit_per_10s": 0, "orders_per_second": 0,
    });
    let client = Client::start(&init.to_string(), Downstream::new())?;
    wait("the cloud login", || client.net_status() == 1)?;
    let entry = json!({"car_number": "京A54321", "in_time": 1700000000, "car_type": "小车",
        "c_type": "通道扫牌", "uid": "100", "order_id": ORDER_ID, "empty_plot": 20,
        "in_channel_id": "A1"});
    client.upload_in_park(&entry.to_string())?;
    let received = format!(
        "http://127.0.0.1:{}/api/received?service_name=in_park",
        sim.http_port
    );
    wait("the entry at the simulator", || {
        reqwest::blocking::get(&received)
            .and_then(|r| r.text())
            .is_ok_and(|text| text.contains("\"in_park\""))
    })?;

    let picture = bolink_sim::picture::jpeg_sized(PICTURE_BYTES);
    let message = json!({
        "service_name": "upload_carpic", "data_target": "cloud", "picture_source": "order",
        "order_id": ORDER_ID, "park_order_type": "in", "create_time": 1700000000,
        "car_number": "京A54321", "pic_type": "jpg", "upload_type": "http",
        "content": STANDARD.encode(&picture),
    });
    let text = message.to_string();

    // B's body is built exactly as the library builds it, once.
    let shared = client.shared();
    let token = shared
        .link(LinkId::Cloud)
        .and_then(|l| l.token())
        .ok_or("no token")?;
    let map: &Map<String, Value> = message.as_object().ok_or("not an object")?;
    let checked = carpic::check(map)?;
    let data = carpic::data_text(map, &checked.content);
    let body = carpic::envelope(&token, UKEY, &data);
    let http = shared.carpic.poster().client()?;
    // The blocking request is not Sync; its clone shares the body, so the lock is brief.
    let request = Mutex::new(
        http.post(&url)
            .header("Content-Type", "application/json;charset=UTF-8")
            .body(body.clone())
            .build()?,
    );
    let content = map["content"].as_str().unwrap_or_default();

    let library = || -> Result<(), String> {
        let answer = client.upload_data(&text).map_err(|e| e.to_string())?;
        accepted(&answer.to_string())
    };
    let bare = || -> Result<(), String> {
        let request = request
            .lock()
            .map_err(|_| "poisoned")?
            .try_clone()
            .ok_or("body not reusable")?;
        let answer = http
            .execute(request)
            .and_then(|r| r.text())
            .map_err(|e| e.to_string())?;
        accepted(&answer)
    };
    let unavoidable = || -> Result<(), String> {
        let bytes = STANDARD.decode(content).map_err(|e| e.to_string())?;
        let digest = Md5::digest(body.as_bytes());
        std::hint::black_box((bytes, digest));
        Ok(())
    };
    let prepare = || -> Result<(), String> {
        let message: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let message = message.as_object().ok_or("not an object")?;
        let checked = carpic::check(message).map_err(|e| e.to_string())?;
        let data = carpic::data_text(message, &checked.content);
        std::hint::black_box(carpic::envelope(&token, UKEY, &data));
        Ok(())
    };
    let sign_alone = || -> Result<(), String> {
        std::hint::black_box(Md5::digest(body.as_bytes()));
        Ok(())
    };

    for _ in 0..20 {
        library()?;
        bare()?;
    }

    println!(
        "bolink {} image benchmark: {} byte JPEG ({} bytes of Base64, {} byte body), \
         {uploads} uploads a run, simulator in a child process on loopback",
        bolink::VERSION,
        picture.len(),
        content.len(),
        body.len()
    );
    println!(
        "{:<40} {:>7} {:>11} {:>15}",
        "mode", "threads", "uploads/s", "CPU µs/upload"
    );
    let mut rows = Vec::new();
    for threads in [1, 4] {
        for (label, run) in [
            (
                "L library: upload_data",
                &library as &(dyn Fn() -> Result<(), String> + Sync),
            ),
            ("B bare POST, same body and client", &bare),
            ("U Base64 decode + MD5 of the body", &unavoidable),
            ("M MD5 of the body alone (the sign)", &sign_alone),
            ("P library work alone: parse, check, body", &prepare),
        ] {
            let row = measure(run, threads, uploads)?;
            println!(
                "{label:<40} {threads:>7} {:>11.0} {:>15}",
                row.per_second,
                row.cpu_us
                    .map_or("n/a".to_string(), |us| format!("{us:.0}"))
            );
            rows.push(row);
        }
    }

    println!();
    for (i, threads) in [1, 4].iter().enumerate() {
        let [l, b, u, m, p] = [0, 1, 2, 3, 4].map(|k| &rows[i * 5 + k]);
        print!(
            "{threads} thread{}: L/B throughput {:.2}",
            if *threads == 1 { "" } else { "s" },
            l.per_second / b.per_second
        );
        if let [Some(l), Some(b), Some(u), Some(m), Some(p)] = [l, b, u, m, p].map(|row| row.cpu_us)
        {
            print!(
                "; CPU L/B {:.2}, L/(B+U) {:.2}, L/(B+M) {:.2}; library work beside the sign \
                 (P-M) {:.0} µs",
                l / b,
                l / (b + u),
                l / (b + m),
                p - m
            );
        }
        println!();
    }

    client.stop();
    drop(sim);
    Ok(())
}

/// One run's figures.
struct Row {
    per_second: f64,
    cpu_us: Option<f64>,
}

/// Runs `uploads` calls of `run`, spread over `threads` threads.
fn measure(
    run: &(dyn Fn() -> Result<(), String> + Sync),
    threads: usize,
    uploads: usize,
) -> Result<Row, Failure> {
    let each = uploads / threads;
    let cpu_before = cpu_time();
    let started = Instant::now();
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(move || (0..each).try_for_each(|_| run())))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = cpu_time();
    results.into_iter().collect::<Result<(), String>>()?;
    let done = (each * threads) as f64;
    Ok(Row {
        per_second: done / seconds,
        cpu_us: cpu_before
            .zip(cpu_after)
            .map(|(before, after)| (after - before).as_secs_f64() * 1e6 / done),
    })
}

fn accepted(answer: &str) -> Result<(), String> {
    if answer.contains("\"state\":1") {
        Ok(())
    } else {
        Err(format!("not accepted: {answer}"))
    }
}

fn wait(what: &str, mut done: impl FnMut() -> bool) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// User plus system CPU time of this process so far.
#[cfg(unix)]
fn cpu_time() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

#[cfg(not(unix))]
fn cpu_time() -> Option<Duration> {
    None
}

/// The simulator child process, stopped when dropped.
struct SimProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    cloud_port: u16,
    http_port: u16,
}

impl SimProcess {
    /// Starts this program again as the simulator and reads its ports.
    fn start() -> Result<SimProcess, Failure> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--serve-sim")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut lines = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let line = lines.next().ok_or("the simulator did not start")??;
        let mut ports = line.split_whitespace().map(str::parse::<u16>);
        let (Some(Ok(cloud_port)), Some(Ok(http_port))) = (ports.next(), ports.next()) else {
            return Err(format!("unexpected first line from the simulator: {line}").into());
        };
        Ok(SimProcess {
            child,
            stdin,
            cloud_port,
            http_port,
        })
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        // Closing its input ends the child; killing it is the fallback.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's side: a simulator that keeps no image (retention 0, so memory stays flat),
/// prints `CLOUD_PORT HTTP_PORT`, and runs until its input closes.
fn serve_sim() -> Result<(), Failure> {
    let sim = Sim::start(SimConfig {
        parks: vec![Park::new(UNION_ID, PARK_ID, UKEY)],
        rate_limit_per_10s: None,
        image_retention: Duration::ZERO,
        ..SimConfig::default()
    })?;
    println!("{} {}", sim.cloud_port(), sim.http_port());
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    drop(sim);
    Ok(())
}
