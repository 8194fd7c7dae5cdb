//! Link benchmark: messages per second from `upload_data` through the link to the simulator and
//! acknowledged, and the delay from a downstream message leaving the simulator to the host's
//! callback. Run with `cargo run --release --example bench_link [-- MESSAGES]`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bolink::{Client, Downstream};
use bolink_sim::{Park, Sim, SimConfig};
use serde_json::{Value, json};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let messages: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let sim = Sim::start(SimConfig {
        parks: vec![Park::new("200208", "21835", "8403A41ED5EF20BC")],
        rate_limit_per_10s: None,
        ..SimConfig::default()
    })?;
    let data_dir = std::env::temp_dir().join(format!("bolink-bench-link-{}", std::process::id()));

    println!(
        "bolink {} link benchmark, {messages} messages, loopback simulator",
        bolink::VERSION
    );
    println!(
        "{:<34} {:>12} {:>10}",
        "upstream (1 host thread)", "messages/s", "seconds"
    );
    for (label, dir) in [
        ("outbox in memory", String::new()),
        ("outbox on disk", data_dir.display().to_string()),
    ] {
        let (client, _) = start(&sim, &dir)?;
        let started = Instant::now();
        for n in 0..messages {
            let message = json!({"service_name": "upload_collector", "data_target": "cloud",
                "user_id": format!("u{n}"), "operate_type": 1, "name": "收费员"});
            client.upload_data(&message.to_string())?;
        }
        while client.status()["outbox"]["pending"] != 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{label:<34} {:>12.0} {seconds:>10.2}",
            messages as f64 / seconds
        );
        client.stop();
    }
    let _ = std::fs::remove_dir_all(&data_dir);

    let (client, downstream) = start(&sim, "")?;
    let arrivals: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&arrivals);
    downstream.set_receiver(Some(Arc::new(move |text: &str| {
        let now = Instant::now();
        let message: Value = serde_json::from_str(text).unwrap_or_default();
        let seq = message["seq"].as_u64().unwrap_or(0) as usize;
        sink.lock().unwrap().push((seq, now));
    })));
    let pushes = 2_000;
    let mut sent = Vec::with_capacity(pushes);
    for seq in 0..pushes {
        let message = json!({"service_name": "lock_car", "order_id": format!("o{seq}"),
            "is_locked": 1, "lock_key": "1234", "seq": seq});
        sent.push(Instant::now());
        sim.push("21835", &message);
        std::thread::sleep(Duration::from_micros(500));
    }
    while arrivals.lock().unwrap().len() < pushes {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut delays: Vec<f64> = arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|(seq, at)| at.duration_since(sent[*seq]).as_secs_f64() * 1e6)
        .collect();
    delays.sort_by(f64::total_cmp);
    let pick = |q: f64| delays[((delays.len() as f64 * q) as usize).min(delays.len() - 1)];
    println!();
    println!("downstream: simulator push -> host callback, {pushes} messages");
    println!("{:<10} {:>10} {:>10} {:>10}", "", "median", "p99", "max");
    println!(
        "{:<10} {:>8.0}us {:>8.0}us {:>8.0}us",
        "delay",
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
    client.stop();
    Ok(())
}

fn start(
    sim: &Sim,
    data_dir: &str,
) -> Result<(Client, Arc<Downstream>), Box<dyn std::error::Error>> {
    let init = json!({
        "union_id": "200208", "ukey": "8403A41ED5EF20BC", "park_id": "21835",
        "cloud_addr": "127.0.0.1", "cport": sim.cloud_port(), "data_dir": data_dir,
        "rate_limit_per_10s": 0, "orders_per_second": 0,
    });
    let downstream = Downstream::new();
    let client = Client::start(&init.to_string(), Arc::clone(&downstream))?;
    while client.net_status() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok((client, downstream))
}
