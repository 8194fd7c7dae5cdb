//! Init and uninit, again and again, with traffic in flight: every round's uploads arrive, and
//! no thread outlives its SDK (the vendor's SDK crashed or leaked on re-init).

mod common;

use std::ffi::{CStr, CString};
use std::time::Duration;

use bolink::ffi::api::{
    bolink_free_string, bolink_init, bolink_uninit, bolink_upload_in_park_order,
};
use common::*;
use serde_json::Value;

fn call(answer: *mut std::ffi::c_char) -> Value {
    assert!(!answer.is_null());
    let text = unsafe { CStr::from_ptr(answer) }
        .to_str()
        .unwrap()
        .to_string();
    unsafe { bolink_free_string(answer) };
    serde_json::from_str(&text).unwrap()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn twenty_rounds_of_init_traffic_uninit() {
    let sim = sim();
    let mut init = init_json(&sim);
    init["data_dir"] = std::env::temp_dir()
        .join(format!("bolink-reinit-{}", std::process::id()))
        .display()
        .to_string()
        .into();
    let init = CString::new(init.to_string()).unwrap();
    let before = threads();

    for round in 0..20 {
        let answer = call(unsafe { bolink_init(init.as_ptr()) });
        assert_eq!(answer["state"], 1, "round {round}: {answer}");
        for n in 0..5 {
            let order = CString::new(entry(&format!("r{round}_{n}")).to_string()).unwrap();
            let answer = call(unsafe { bolink_upload_in_park_order(order.as_ptr()) });
            assert_eq!(answer["errcode"], 0, "{answer}");
        }
        // Uninit as soon as the round's first entry reached the cloud: the others are in flight
        // or waiting, and must arrive in a later round, once each.
        let first = format!("r{round}_0");
        sim.wait_for(Duration::from_secs(10), |r| {
            r.data["order_id"] == first.as_str()
        })
        .expect("the round's first entry arrived");
        assert_eq!(call(bolink_uninit())["state"], 1);
    }
    let answer = call(unsafe { bolink_init(init.as_ptr()) });
    assert_eq!(answer["state"], 1);
    let accepted = || -> Vec<String> {
        sim.received()
            .iter()
            .filter(|r| r.service_name == "in_park")
            .filter(|r| r.answer.as_ref().is_some_and(|a| a["state"] == 1))
            .map(|r| r.data["order_id"].as_str().unwrap().to_string())
            .collect()
    };
    wait_until(Duration::from_secs(30), "all 100 entries accepted", || {
        accepted().len() >= 100
    });
    assert_eq!(call(bolink_uninit())["state"], 1);
    let orders = accepted();
    let expected: Vec<String> = (0..20)
        .flat_map(|r| (0..5).map(move |n| format!("r{r}_{n}")))
        .collect();
    assert_eq!(
        orders, expected,
        "every entry accepted once, in order (resends are answered as duplicates)"
    );
    // Threads end with their SDK; the simulator's own threads were counted in `before`.
    wait_until(
        Duration::from_secs(5),
        "threads back to where they were",
        || threads() <= before,
    );
}
