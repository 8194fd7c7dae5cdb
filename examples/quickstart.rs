//! The whole flow against an embedded simulator: init, an entry, its image, a price query from the
//! cloud answered by the host, the exit. Run it with `cargo run --example quickstart`; add
//! `-- --keep` to leave the simulator running so its page can be opened in a browser.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use base64::Engine;
use bolink::{Client, Downstream};
use bolink_sim::{Park, Sim, SimConfig};
use serde_json::{Value, json};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keep = std::env::args().any(|a| a == "--keep");

    let sim = Sim::start(SimConfig {
        parks: vec![Park::new("200208", "21835", "8403A41ED5EF20BC")],
        ..SimConfig::default()
    })?;
    println!(
        "1. simulator up: cloud on 127.0.0.1:{}, page http://127.0.0.1:{}/",
        sim.cloud_port(),
        sim.http_port()
    );

    let init = json!({
        "union_id": "200208",
        "ukey": "8403A41ED5EF20BC",
        "park_id": "21835",
        "cloud_addr": "127.0.0.1",
        "cport": sim.cloud_port(),
        "local_id": "quickstart_channels_A1_B1",
        "data_dir": "",
        "image_url": format!("http://127.0.0.1:{}/upload/carimgupload", sim.http_port()),
    });
    let downstream = Downstream::new();
    let client = Arc::new(Client::start(&init.to_string(), Arc::clone(&downstream))?);
    println!("2. init accepted; connecting in the background");
    while client.net_status() == 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("   logged in: {}", client.status()["links"]);

    // The host's receiver: answer price queries, report everything else.
    let (answered, price_answered) = mpsc::channel();
    let replier = Arc::clone(&client);
    downstream.set_receiver(Some(Arc::new(move |text: &str| {
        let message: Value = serde_json::from_str(text).unwrap_or_default();
        println!("   <- downstream: {text}");
        if message["service_name"] == "query_price" {
            let reply = json!({
                "service_name": "query_price", "data_target": "bolink", "state": 1, "errmsg": "",
                "order_id": message["order_id"], "query_order_no": message["query_order_no"],
                "price": "6.00", "total": "6.00", "duration": 60, "free_out_time": 15,
                "query_time": 1700003600, "derate_money": "0.00", "derate_duration": 0,
            });
            match replier.upload_data(&reply.to_string()) {
                Ok(answer) => println!("   -> reply to query_price: {answer}"),
                Err(e) => println!("   -> reply to query_price failed: {e}"),
            }
            let _ = answered.send(());
        }
    })));

    let entry = json!({
        "car_number": "京A54321", "in_time": 1700000000, "car_type": "小车", "c_type": "通道扫牌",
        "uid": "100", "order_id": "qs_0001", "empty_plot": 20, "in_channel_id": "A1",
    });
    println!("3. entry: {}", client.upload_in_park(&entry.to_string())?);
    sim.wait_for(Duration::from_secs(10), |r| r.service_name == "in_park")
        .ok_or("entry not received")?;
    println!("   the cloud has the entry");

    let image = json!({
        "service_name": "upload_carpic", "data_target": "cloud", "picture_source": "order",
        "order_id": "qs_0001", "park_order_type": "in", "create_time": 1700000000,
        "upload_type": "http", "car_number": "京A54321", "pic_type": "jpg",
        "content": base64::engine::general_purpose::STANDARD.encode(bolink_sim::picture::jpeg("quickstart entry")),
    });
    println!(
        "4. entry image: {}",
        client.upload_data(&image.to_string())?
    );

    let request = json!({
        "service_name": "query_price", "pay_scene": 1, "car_number": "京A54321",
        "order_id": "qs_0001", "query_order_no": "qs_q1", "out_channel_id": "B1",
    });
    println!(
        "5. the cloud asks for the price (pushed to {} session)",
        sim.push("21835", &request)
    );
    price_answered.recv_timeout(Duration::from_secs(10))?;
    let reply = sim
        .wait_for(Duration::from_secs(10), |r| r.service_name == "query_price")
        .ok_or("the reply never reached the cloud")?;
    println!("   the cloud got the price: {}", reply.data["price"]);

    let exit = json!({
        "car_number": "京A54321", "in_time": 1700000000, "out_time": 1700003600, "uid": "100",
        "pay_type": "cash", "empty_plot": 21, "total": "6.00", "order_id": "qs_0001",
    });
    println!("6. exit: {}", client.upload_out_park(&exit.to_string())?);
    sim.wait_for(Duration::from_secs(10), |r| r.service_name == "out_park")
        .ok_or("exit not received")?;
    while client.status()["outbox"]["pending"] != 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "   the cloud has the exit; outbox empty: {}",
        client.status()["outbox"]
    );
    println!("7. images stored in the simulator: {}", sim.images().len());

    if keep {
        println!(
            "the simulator keeps running: open http://127.0.0.1:{}/ (Ctrl-C to end)",
            sim.http_port()
        );
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    client.stop();
    println!("done: init -> entry -> image -> price query answered -> exit");
    Ok(())
}
