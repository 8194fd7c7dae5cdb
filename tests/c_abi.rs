//! The C host in tests/c/abi.c, written only from the header, against the simulator: the whole
//! flow, the callback's thread, bad input on every export; then the same under valgrind.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Runs the C host (optionally under a wrapper), answering its entry with a `query_price`.
fn run_host(wrapper: &[&str], limit: Duration) {
    let sim = sim();
    let program = compile_c("abi.c", &[]);
    let mut command = match wrapper.split_first() {
        Some((tool, args)) => {
            let mut c = Command::new(tool);
            c.args(args).arg(&program);
            c
        }
        None => Command::new(&program),
    };
    let mut child = command
        .arg(sim.cloud_port().to_string())
        .arg(sim.http_port().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {wrapper:?} {}: {e}", program.display()));

    let entry = sim.wait_for(limit, |r| r.service_name == "in_park");
    assert!(entry.is_some(), "the C host's entry never arrived");
    let request = json!({"service_name": "query_price", "pay_scene": 1, "car_number": "京A54321",
        "order_id": "c_ord1", "query_order_no": "cq1", "out_channel_id": "B1"});
    assert_eq!(sim.push(PARK_ID, &request), 1);
    let reply = sim.wait_for(limit, |r| r.service_name == "query_price");
    let exit = sim.wait_for(limit, |r| r.service_name == "out_park");

    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the C host did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "C host failed ({status}):\n{out}\n{err}");
    assert!(out.contains("ALL OK"), "{out}\n{err}");

    let reply = reply.expect("the reply from the C callback reached the simulator");
    assert_eq!(reply.data["query_order_no"], "cq1");
    assert_eq!(reply.data["state"], 1);
    assert_eq!(exit.expect("the exit arrived").data["order_id"], "c_ord1");
}

#[test]
fn c_host_completes_the_flow() {
    run_host(&[], Duration::from_secs(30));
}

#[test]
fn c_host_is_clean_under_valgrind() {
    let probe = Command::new("valgrind").arg("--version").output();
    assert!(probe.is_ok(), "valgrind is missing: run scripts/setup.sh");
    run_host(
        &[
            "valgrind",
            "--quiet",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite",
        ],
        Duration::from_secs(240),
    );
}

#[test]
fn header_compiles_as_cpp() {
    let out = lib_dir().join("c-tests");
    std::fs::create_dir_all(&out).unwrap();
    let status = Command::new("g++")
        .args([
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-I",
        ])
        .arg(root().join("include"))
        .arg(root().join("tests/c/header.cpp"))
        .arg("-L")
        .arg(lib_dir())
        .args(["-lbolink", "-o"])
        .arg(out.join("header_cpp"))
        .status()
        .expect("g++ runs (install g++)");
    assert!(status.success());
}

#[test]
fn committed_header_is_current() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/bolink.h"));
    let committed = std::fs::read_to_string(root().join("include/bolink.h")).unwrap();
    assert!(
        generated == committed,
        "include/bolink.h is stale: run `BOLINK_WRITE_HEADER=1 cargo build` and commit it"
    );
}
