//! The language bindings and the vendor-compatible exports, driven by real host programs.
//!
//! Each test builds one program (C against `include/bolink_compat.h`, C# with mcs, Pascal with
//! fpc, Java with javac), runs it against the built library and a simulator started here, and
//! plays the cloud's side: once the program's entry has arrived, it pushes a message the
//! program's receiver fails on, then a `query_price` the receiver must answer. The simulator's
//! records must then hold the entry, the reply (right `query_order_no`, `state` 1) and the exit.
//! Each program checks its own answers, invalid calls included, prints what it does and exits
//! non-zero on any failure.
//!
//! A missing toolchain fails the test: `scripts/setup.sh` installs them.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bolink_sim::{Received, Sim};
use serde_json::{Value, json};

use common::PARK_ID;

/// How long each step of the cloud's side waits for the program.
const STEP: Duration = Duration::from_secs(40);

/// What every program's receiver prints or raises when it fails on purpose.
const RECEIVER_FAILURE: &str = "receiver failed on purpose";

/// Runs `tool` with `version_arg` to prove it is installed; fails naming the setup script if not.
fn require_tool(tool: &str, version_arg: &str) {
    let found = Command::new(tool)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "`{tool}` is not installed; run scripts/setup.sh (it installs the C, C#, Pascal and Java \
         toolchains these tests need)"
    );
}

/// The directory of the library these tests load: a snapshot taken once per run.
///
/// `cargo test` rebuilds the library in `target/<profile>/deps` but copies it up to
/// `target/<profile>` only on `cargo build`, so the copy in `deps` is the one that matches the
/// sources under test. Another build in the same target directory may rewrite that file while
/// the programs load it; they load a copy instead, put in place by a rename so a program that
/// has it open keeps its own.
fn library_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let name = format!(
            "{}bolink{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let built = common::lib_dir().join("deps").join(&name);
        let dir = common::lib_dir().join("hosts").join("lib");
        std::fs::create_dir_all(&dir).expect("the library directory can be created");
        let partial = dir.join(format!("{name}.{}", std::process::id()));
        std::fs::copy(&built, &partial)
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
        std::fs::rename(&partial, dir.join(&name)).expect("the library copy can be renamed");
        dir
    })
    .clone()
}

/// A fresh directory for one language's build under `target/<profile>/hosts/`.
fn build_dir(language: &str) -> PathBuf {
    let dir = common::lib_dir().join("hosts").join(language);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("the old build directory can be removed");
    }
    std::fs::create_dir_all(&dir).expect("the build directory can be created");
    dir
}

/// Runs a build command and fails with its output when it fails.
fn build(what: &str, command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what} could not be started: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Collects a child's output stream on a thread, so a chatty program never blocks on a full pipe.
fn collect(stream: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut stream = stream;
        let _ = stream.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A host program running against the simulator.
struct Host {
    language: &'static str,
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Host {
    /// Starts `command` with the init JSON for `sim` and the order to use in its environment.
    fn start(language: &'static str, mut command: Command, sim: &Sim, order_id: &str) -> Host {
        let mut child = command
            .env("BOLINK_INIT_JSON", common::init_json(sim).to_string())
            .env("BOLINK_ORDER_ID", order_id)
            .env("LD_LIBRARY_PATH", library_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("the {language} program could not be started: {e}"));
        let stdout = child.stdout.take().map(collect);
        let stderr = child.stderr.take().map(collect);
        Host {
            language,
            child,
            stdout,
            stderr,
        }
    }

    /// Waits for the program to end (killing it after `timeout`) and returns its status and
    /// output.
    fn finish(mut self, timeout: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("the program can be waited for")
            {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                break self
                    .child
                    .wait()
                    .expect("the killed program can be waited for");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self.stdout.take().map(|h| h.join().unwrap_or_default());
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
        (
            status,
            stdout.unwrap_or_default(),
            stderr.unwrap_or_default(),
        )
    }

    /// Stops the program and fails the test with everything it printed.
    fn fail(self, why: &str) -> ! {
        let language = self.language;
        let (status, stdout, stderr) = self.finish(Duration::ZERO);
        let printed = printed(&stdout, &stderr);
        panic!("{language}: {why} (program ended: {status})\n{printed}");
    }
}

impl Drop for Host {
    /// A failed assertion must not leave the program running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A program's output, for failure messages.
fn printed(stdout: &str, stderr: &str) -> String {
    format!("--- stdout\n{stdout}\n--- stderr\n{stderr}")
}

/// The first record satisfying `pred`, waiting up to [`STEP`]; `None` when none came or the
/// program ended first (it has nothing more to send then).
fn wait_for_record(
    sim: &Sim,
    host: &mut Host,
    pred: impl Fn(&Received) -> bool,
) -> Option<Received> {
    let deadline = Instant::now() + STEP;
    while Instant::now() < deadline {
        if let Some(record) = sim.wait_for(Duration::from_millis(200), &pred) {
            return Some(record);
        }
        if host.child.try_wait().ok().flatten().is_some() {
            return sim.wait_for(Duration::ZERO, &pred);
        }
    }
    None
}

/// Whether a record is `service` with `data[key]` equal to `value`.
fn is(record: &Received, service: &str, key: &str, value: &str) -> bool {
    record.service_name == service && record.data.get(key).and_then(Value::as_str) == Some(value)
}

/// Plays the cloud's side of the flow against a started program and checks the records and the
/// program's own verdict. Returns the program's stdout and stderr for language-specific checks.
fn drive(sim: &Sim, mut host: Host, order_id: &str) -> (String, String) {
    let language = host.language;
    let entry = wait_for_record(sim, &mut host, |r| is(r, "in_park", "order_id", order_id));
    let Some(entry) = entry else {
        host.fail("the entry (in_park) never reached the cloud");
    };
    assert_eq!(
        entry.data["car_number"], "京A54321",
        "{language}: the entry's plate"
    );

    // First a message the receiver fails on: the binding must absorb the failure and keep
    // delivering, which the answered query_price below proves.
    sim.push(
        PARK_ID,
        &json!({"service_name": "test_throw", "data_target": "cloud"}),
    );
    let query_order_no = format!("q_{language}_1");
    let pushed = sim.push(
        PARK_ID,
        &json!({
            "service_name": "query_price",
            "pay_scene": 1,
            "car_number": "京A54321",
            "order_id": order_id,
            "query_order_no": query_order_no,
            "out_channel_id": "B1",
        }),
    );
    assert!(pushed > 0, "{language}: the query_price reached no session");

    let reply = wait_for_record(sim, &mut host, |r| {
        is(r, "query_price", "query_order_no", &query_order_no)
    });
    let Some(reply) = reply else {
        host.fail("the query_price reply never reached the cloud");
    };
    assert_eq!(
        reply.data["state"], 1,
        "{language}: the reply's state: {}",
        reply.raw
    );
    assert_eq!(
        reply.data["order_id"], order_id,
        "{language}: the reply's order_id"
    );
    assert_eq!(
        reply.data["data_target"], "bolink",
        "{language}: the reply's data_target"
    );

    if wait_for_record(sim, &mut host, |r| is(r, "out_park", "order_id", order_id)).is_none() {
        host.fail("the exit (out_park) never reached the cloud");
    }

    let (status, stdout, stderr) = host.finish(STEP);
    // Shown with --nocapture, and by the harness when a later check fails.
    let output = printed(&stdout, &stderr);
    println!("{language}:\n{output}");
    assert!(
        status.success(),
        "{language}: the program failed ({status})\n{output}"
    );
    assert!(
        stdout.contains("all steps passed"),
        "{language}: the program did not finish its steps\n{output}"
    );
    (stdout, stderr)
}

/// Builds tests/c/compat.c once for all tests here, linked against the library in
/// [`library_dir`] (the `-L` given here comes before the one `compile_c` adds, so the linker
/// looks here first).
fn compile_compat_c() -> PathBuf {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            let dir = library_dir();
            common::compile_c(
                "compat.c",
                &["-L", dir.to_str().expect("a UTF-8 target path")],
            )
        })
        .clone()
}

/// A file of the repository.
fn source(path: &str) -> PathBuf {
    common::root().join(path)
}

#[test]
fn vendor_c_program_runs_on_the_compat_exports() {
    require_tool("gcc", "--version");
    let program = compile_compat_c();
    let sim = common::sim();
    let order_id = "ord_compat_c";
    let host = Host::start("c", Command::new(&program), &sim, order_id);
    let (stdout, _) = drive(&sim, host, order_id);
    assert!(stdout.contains("Init(NULL) -> {\"state\":0"), "{stdout}");
    assert!(stdout.contains("sdk has been initialized!"), "{stdout}");
}

#[test]
fn csharp_program_runs_through_the_bindings() {
    require_tool("mcs", "--version");
    require_tool("mono", "--version");
    let dir = build_dir("csharp");
    let program = dir.join("BolinkTest.exe");
    // ISO-2 for the binding proves it builds with the oldest .NET Framework compilers.
    build(
        "mcs (Bolink.cs)",
        Command::new("mcs")
            .args(["-langversion:ISO-2", "-target:library", "-warnaserror"])
            .arg(format!("-out:{}", dir.join("Bolink.dll").display()))
            .arg(source("bindings/csharp/Bolink.cs")),
    );
    build(
        "mcs (BolinkTest.cs)",
        Command::new("mcs")
            .args(["-warnaserror"])
            .arg(format!("-out:{}", program.display()))
            .arg(source("bindings/csharp/Bolink.cs"))
            .arg(source("bindings/csharp/tests/BolinkTest.cs")),
    );

    let sim = common::sim();
    let order_id = "ord_csharp";
    let mut command = Command::new("mono");
    command.arg(&program);
    let host = Host::start("csharp", command, &sim, order_id);
    let (stdout, _) = drive(&sim, host, order_id);
    assert!(stdout.contains("Init(null) -> {\"state\":0"), "{stdout}");
    assert!(
        stdout.contains(&format!("handler failure reported: {RECEIVER_FAILURE}")),
        "{stdout}"
    );
}

#[test]
fn pascal_program_runs_through_the_unit() {
    require_tool("fpc", "-iV");
    let dir = build_dir("pascal");
    let units = dir.join("units");
    std::fs::create_dir_all(&units).expect("the unit directory can be created");
    build(
        "fpc (BolinkTest.dpr)",
        Command::new("fpc")
            .args(["-Sew", "-vw"])
            .arg(format!("-Fu{}", source("bindings/delphi").display()))
            .arg(format!("-FE{}", dir.display()))
            .arg(format!("-FU{}", units.display()))
            .arg(source("bindings/delphi/tests/BolinkTest.dpr")),
    );

    let sim = common::sim();
    let order_id = "ord_pascal";
    let host = Host::start(
        "pascal",
        Command::new(dir.join("BolinkTest")),
        &sim,
        order_id,
    );
    let (stdout, _) = drive(&sim, host, order_id);
    assert!(
        stdout.contains("missing library -> cannot load the bolink library"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bolink_init(nil) -> {\"state\":0"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("handler failure reported: {RECEIVER_FAILURE}")),
        "{stdout}"
    );
}

#[test]
fn vendor_java_program_runs_on_the_jni_bindings() {
    require_tool("javac", "-version");
    require_tool("java", "-version");
    let dir = build_dir("java");
    // Java 8 is the oldest release a vendor-SDK program is likely to target.
    build(
        "javac",
        Command::new("javac")
            .args([
                "--release",
                "8",
                "-encoding",
                "UTF-8",
                "-Xlint:all,-options",
                "-Werror",
            ])
            .arg("-d")
            .arg(&dir)
            .arg(source("bindings/java/src/sdk/InterfacePark.java"))
            .arg(source("bindings/java/src/sdk/UploadUtilNative.java"))
            .arg(source("bindings/java/src/sdk/UploadUtil.java"))
            .arg(source("bindings/java/test/demo/ParkDemo.java")),
    );

    let sim = common::sim();
    let order_id = "ord_java";
    let mut command = Command::new("java");
    command
        .arg("-Xcheck:jni")
        .arg(format!("-Djava.library.path={}", library_dir().display()))
        .arg("-cp")
        .arg(&dir)
        .arg("demo.ParkDemo");
    let host = Host::start("java", command, &sim, order_id);
    let (stdout, stderr) = drive(&sim, host, order_id);
    assert!(stdout.contains("init(null) -> {\"state\":0"), "{stdout}");
    assert!(
        stdout.contains("uploadDataSync -> {\"service_name\":\"upload_collector\""),
        "{stdout}"
    );
    // The exception thrown by receive was printed with its stack trace, then the SDK went on.
    assert!(
        stderr.contains(&format!(
            "java.lang.IllegalStateException: {RECEIVER_FAILURE}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("demo.ParkDemo$ParkReceiver.receive"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Exception in thread \"bolink-dispatch\""),
        "{stderr}"
    );
    // -Xcheck:jni reports misuse of JNI by the natives as warnings.
    assert!(!stderr.contains("WARNING in native method"), "{stderr}");
}

#[test]
fn vendor_c_program_is_clean_under_valgrind() {
    require_tool("valgrind", "--version");
    let program = compile_compat_c();
    let sim = common::sim();
    let order_id = "ord_compat_valgrind";
    let mut command = Command::new("valgrind");
    command
        .args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
        ])
        .arg(&program);
    let host = Host::start("c-valgrind", command, &sim, order_id);
    let (_, stderr) = drive(&sim, host, order_id);
    assert!(stderr.contains("ERROR SUMMARY: 0 errors"), "{stderr}");
}
