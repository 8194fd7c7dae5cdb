//! Uploaded images as a person sees them: the simulator's web page, loaded in headless Chromium,
//! shows each order's entry and exit images, and each image's address serves the uploaded bytes.
//! One test uploads from Rust; the other from a C program through `bolink_upload_data`.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bolink::{Client, Downstream};
use bolink_sim::Sim;
use common::*;

const WAIT: Duration = Duration::from_secs(10);

/// The longest Chromium may take to load and dump the page.
const CHROMIUM_WAIT: Duration = Duration::from_secs(90);

/// A fresh directory under the system's temporary directory.
fn temp_dir(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("bolink-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Chromium executable. Missing is a failure, not a skip: the page is part of the product.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium is not installed, and the page test needs it: run scripts/setup.sh \
                 (it installs Debian's `chromium` package)"
            )
        })
}

/// The page at `url` after Chromium has loaded it: its DOM, serialised.
fn dump_dom(url: &str) -> String {
    let profile = temp_dir("chromium");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());

    let deadline = Instant::now() + CHROMIUM_WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish loading {url} in {CHROMIUM_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = out.join().unwrap();
    let log = err.join().unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(status.success(), "chromium failed ({status}): {log}");
    assert!(dom.contains("</html>"), "chromium dumped no page: {log}");
    dom
}

/// Every `<img>` tag of a page, as written.
fn img_tags(dom: &str) -> Vec<&str> {
    dom.match_indices("<img")
        .filter_map(|(start, _)| dom[start..].find('>').map(|end| &dom[start..=start + end]))
        .collect()
}

/// An attribute's value in a tag, when it has that attribute.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// The `src` of the image the page shows for an order's entry ("in") or exit ("out").
fn order_image_src<'a>(dom: &'a str, order_id: &str, kind: &str) -> &'a str {
    let tags = img_tags(dom);
    let tag = tags
        .iter()
        .find(|tag| {
            attr(tag, "data-order-id") == Some(order_id) && attr(tag, "data-kind") == Some(kind)
        })
        .unwrap_or_else(|| panic!("no {kind} image of order {order_id} on the page: {tags:?}"));
    attr(tag, "src").expect("the image has a src")
}

/// The bytes served at `src` (a path on the simulator's HTTP port).
fn fetch(sim: &Sim, src: &str) -> Vec<u8> {
    let url = format!("http://127.0.0.1:{}{src}", sim.http_port());
    let response = reqwest::blocking::get(&url).expect("the image is served");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.bytes().unwrap().to_vec()
}

fn page_url(sim: &Sim) -> String {
    format!("http://127.0.0.1:{}/", sim.http_port())
}

#[test]
fn an_uploaded_entry_image_is_on_the_page() {
    let sim = sim();
    let client = Client::start(&init_json(&sim).to_string(), Downstream::new()).unwrap();
    wait_until(WAIT, "login", || client.net_status() == 1);
    client
        .upload_in_park(&entry("page_o1").to_string())
        .unwrap();
    sim.wait_for(WAIT, |r| r.service_name == "in_park")
        .expect("the simulator got the entry");

    let picture = jpeg("entry page_o1");
    let answer = client
        .upload_data(&carpic("order", "page_o1", &picture).to_string())
        .unwrap();
    assert_eq!(answer["state"], 1, "{answer}");

    let dom = dump_dom(&page_url(&sim));
    let src = order_image_src(&dom, "page_o1", "in");
    assert_eq!(fetch(&sim, src), picture);
    assert!(
        !img_tags(&dom)
            .iter()
            .any(|tag| attr(tag, "data-kind") == Some("out")),
        "no exit image was uploaded"
    );
    client.stop();
}

#[test]
fn from_c_an_entry_and_an_exit_image_appear_on_the_page() {
    let sim = sim();
    let program = compile_c("carpic.c", &[]);
    let dir = temp_dir("carpic-c");
    let entry_picture = jpeg_sized(20_000);
    let exit_picture = jpeg("exit from C");
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let entry_path = write("entry.jpg", &entry_picture);
    let exit_path = write("exit.jpg", &exit_picture);

    let output = Command::new(&program)
        .arg(init_json(&sim).to_string())
        .arg("c_order_1")
        .arg(&entry_path)
        .arg(&exit_path)
        .output()
        .expect("the C program runs");
    let _ = std::fs::remove_dir_all(&dir);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}: {printed}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("entry image: {\"state\":1,\"order_id\":\"c_order_1\""),
        "{printed}"
    );
    assert!(
        printed.contains("exit image: {\"state\":1,\"order_id\":\"c_order_1\""),
        "{printed}"
    );

    let images = sim.images();
    let kinds: Vec<_> = images
        .iter()
        .map(|i| {
            (
                i.order_id.as_deref(),
                i.park_order_type.as_deref(),
                i.bytes.len(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (Some("c_order_1"), Some("in"), entry_picture.len()),
            (Some("c_order_1"), Some("out"), exit_picture.len()),
        ]
    );

    let dom = dump_dom(&page_url(&sim));
    assert_eq!(
        fetch(&sim, order_image_src(&dom, "c_order_1", "in")),
        entry_picture
    );
    assert_eq!(
        fetch(&sim, order_image_src(&dom, "c_order_1", "out")),
        exit_picture
    );
}
