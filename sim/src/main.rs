//! The `bolink-sim` command: a local Bolink parking cloud that runs until it is killed, printing
//! one line per message received and per message pushed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use bolink_sim::{ECHOED_KEYS, Park, Pushed, Received, Sim, SimConfig};
use serde_json::Value;

const USAGE: &str = "\
bolink-sim: a local Bolink (泊链 / 停车云) parking cloud for tests and demos

Usage: bolink-sim [OPTIONS]

Options:
  --park UNION_ID:PARK_ID:UKEY[:CKEY]
                         a park the cloud knows (repeatable); without any, the demo park
                         200208:21835:8403A41ED5EF20BC
  --bind ADDR            address of all three listeners (default 127.0.0.1)
  --cloud-port N         cloud TCP port (default 6791; 0: any free port)
  --bolink-port N        bolink TCP port (default 6789; 0: any free port)
  --http-port N          HTTP port: images, web page, control API (default 8080; 0: any)
  --rate-limit N|off     messages per 10 s per token before request_over_times (default 100)
  --retention-days N     how long images are kept (default 30)
  --max-image-bytes N    largest decoded image accepted (default 153600)
  --auto-query-price     push a query_price for every in_park accepted
  --ports-file PATH      once bound, write cloud=, bolink= and http= port lines to PATH
  --help                 print this help

The web page is at http://ADDR:HTTP_PORT/; the control API is under /api/ (received, pushed,
push, status). The simulator runs until it is killed.
";

/// The demo park, the one the protocol's test vector uses.
const DEMO_PARK: &str = "200208:21835:8403A41ED5EF20BC";

/// How often new records are looked for to be printed.
const LOG_POLL: Duration = Duration::from_millis(100);

struct Options {
    config: SimConfig,
    ports_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("bolink-sim: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let config = options.config;
    let parks = config.parks.clone();
    let bind = config.cloud_addr.ip();
    let sim = match Sim::start(config) {
        Ok(sim) => sim,
        Err(error) => {
            eprintln!("bolink-sim: cannot listen: {error}");
            return ExitCode::FAILURE;
        }
    };

    if let Some(path) = &options.ports_file {
        let ports = format!(
            "cloud={}\nbolink={}\nhttp={}\n",
            sim.cloud_port(),
            sim.bolink_port(),
            sim.http_port()
        );
        if let Err(error) = std::fs::write(path, ports) {
            eprintln!("bolink-sim: cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }

    let page_host = if bind.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bind
    };
    println!("bolink-sim listening");
    println!("  cloud link:  {}", SocketAddr::new(bind, sim.cloud_port()));
    println!(
        "  bolink link: {}",
        SocketAddr::new(bind, sim.bolink_port())
    );
    println!(
        "  web page:    http://{}/",
        SocketAddr::new(page_host, sim.http_port())
    );
    for park in &parks {
        let mode = if park.ckey.is_some() {
            "ukey and ckey"
        } else {
            "ukey"
        };
        println!(
            "  park {} (union_id {}, signed with {mode})",
            park.park_id, park.union_id
        );
    }

    log_forever(&sim)
}

/// Prints every new record and push, in the order they happened, until the process is killed.
fn log_forever(sim: &Sim) -> ! {
    let (mut last_received, mut last_pushed) = (0, 0);
    loop {
        let mut lines: Vec<(SystemTime, String)> = Vec::new();
        for record in sim.received_since(last_received) {
            last_received = record.seq;
            lines.push((record.at, received_line(&record)));
        }
        for push in sim.pushed_since(last_pushed) {
            last_pushed = push.seq;
            lines.push((push.at, pushed_line(&push)));
        }
        // Stable: records and pushes of the same instant keep their own order.
        lines.sort_by_key(|(at, _)| *at);
        for (_, line) in lines {
            println!("{line}");
        }
        std::thread::sleep(LOG_POLL);
    }
}

/// `#12 cloud park=21835 in_park order_id=ord1 -> state=1 success`
fn received_line(record: &Received) -> String {
    let answer = match &record.answer {
        Some(answer) => format!(
            "state={} {}",
            answer
                .get("state")
                .map(Value::to_string)
                .unwrap_or_default(),
            answer.get("errmsg").and_then(Value::as_str).unwrap_or("")
        ),
        None => "no answer".to_owned(),
    };
    format!(
        "#{} {} park={} {}{} -> {}",
        record.seq,
        record.link.as_str(),
        record.park_id.as_deref().unwrap_or("?"),
        record.service_name,
        key_text(&record.data),
        answer.trim_end()
    )
}

/// `push #3 park=21835 query_price order_id=ord1 sessions=1`
fn pushed_line(push: &Pushed) -> String {
    format!(
        "push #{} park={} {}{} sessions={}",
        push.seq,
        push.park_id,
        push.message
            .get("service_name")
            .and_then(Value::as_str)
            .unwrap_or("?"),
        key_text(&push.message),
        push.sessions
    )
}

/// ` name=value` for the first key field the message carries (the login's local_id for logins).
fn key_text(data: &Value) -> String {
    ECHOED_KEYS
        .iter()
        .chain(&["local_id"])
        .find_map(|name| data.get(*name).map(|value| (name, value)))
        .map(|(name, value)| match value {
            Value::String(text) => format!(" {name}={text}"),
            other => format!(" {name}={other}"),
        })
        .unwrap_or_default()
}

/// The options, or `None` when help was asked for.
fn parse(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut config = SimConfig::default();
    let mut bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (mut cloud_port, mut bolink_port, mut http_port) = (6791, 6789, 8080);
    let mut ports_file = None;

    let mut args = args;
    while let Some(arg) = args.next() {
        // Both `--flag value` and `--flag=value` are accepted.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--park" => config.parks.push(park(&value()?)?),
            "--bind" => {
                let text = value()?;
                bind = text
                    .parse()
                    .map_err(|_| format!("--bind: {text} is not an IP address"))?;
            }
            "--cloud-port" => cloud_port = number(&flag, &value()?)?,
            "--bolink-port" => bolink_port = number(&flag, &value()?)?,
            "--http-port" => http_port = number(&flag, &value()?)?,
            "--rate-limit" => {
                let text = value()?;
                config.rate_limit_per_10s = if text == "off" {
                    None
                } else {
                    Some(number(&flag, &text)?)
                };
            }
            "--retention-days" => {
                let days: u64 = number(&flag, &value()?)?;
                config.image_retention = Duration::from_secs(days.saturating_mul(24 * 60 * 60));
            }
            "--max-image-bytes" => config.max_image_bytes = number(&flag, &value()?)?,
            "--auto-query-price" => config.auto_query_price = true,
            "--ports-file" => ports_file = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown option {arg}")),
        }
    }

    if config.parks.is_empty() {
        config.parks.push(park(DEMO_PARK)?);
    }
    config.cloud_addr = SocketAddr::new(bind, cloud_port);
    config.bolink_addr = SocketAddr::new(bind, bolink_port);
    config.http_addr = SocketAddr::new(bind, http_port);
    Ok(Some(Options { config, ports_file }))
}

/// `UNION_ID:PARK_ID:UKEY[:CKEY]`
fn park(text: &str) -> Result<Park, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let park = match parts.as_slice() {
        [union_id, park_id, ukey] => Park::new(union_id, park_id, ukey),
        [union_id, park_id, ukey, ckey] => Park::new(union_id, park_id, ukey).with_ckey(ckey),
        _ => {
            return Err(format!(
                "--park {text}: expected UNION_ID:PARK_ID:UKEY[:CKEY]"
            ));
        }
    };
    if parts.iter().any(|part| part.is_empty()) {
        return Err(format!("--park {text}: no part may be empty"));
    }
    Ok(park)
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: {text} is not a valid number"))
}
