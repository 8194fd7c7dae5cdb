//! The init JSON, turned into a typed configuration with defaults and clear errors.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::error::{ErrCode, Error, Result};
use crate::fields::{self, Kind, flag_of, opt, req, str_of, u64_of};

/// Which back ends the SDK logs into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// SDK 4.x: one link to the cloud, signed with `ukey`; the cloud relays bolink traffic.
    Cloud,
    /// SDK < 4.0: a cloud link signed with `ckey` and a bolink link signed with `ukey`.
    Legacy,
    /// A payment-only account: one link to bolink, signed with `ukey`.
    PayOnly,
}

/// One TCP back end: where it is and the secret that signs its messages.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub secret: String,
}

/// Everything `init` accepted.
#[derive(Clone, Debug)]
pub struct Config {
    pub union_id: String,
    pub park_id: String,
    pub ukey: String,
    pub mode: Mode,
    /// The cloud link (absent for payment-only accounts).
    pub cloud: Option<Endpoint>,
    /// The bolink link (legacy and payment-only modes).
    pub bolink: Option<Endpoint>,
    /// The caller's `local_id`, as given.
    pub local_id: String,
    /// `local_id` as it goes on the wire: `<mac>_<wire_version>[_<local_id>]`.
    pub wire_local_id: String,
    /// The caller's `set_params`, as given, for the login message.
    pub set_params: Option<Value>,
    /// `set_params.fast`: every upstream call except 2.1 and 2.2 waits for the server's answer.
    pub fast: bool,
    /// `set_params.autoconnect`: reconnect after a drop (default on).
    pub autoconnect: bool,
    pub log_show: bool,
    pub log_dir: PathBuf,
    pub log_max_bytes: u64,
    pub log_max_files: usize,
    pub log_keep_days: u64,
    /// Where the outbox lives; `None` keeps it in memory only.
    pub data_dir: Option<PathBuf>,
    pub outbox_max: u64,
    /// The image upload address (section 2.12).
    pub image_url: String,
    pub heartbeat: Duration,
    pub connect_timeout: Duration,
    pub reconnect_max: Duration,
    pub answer_timeout: Duration,
    pub sync_timeout: Duration,
    /// Messages per 10 s per link (the cloud refuses more than 100); 0 turns the limit off.
    pub rate_limit_per_10s: u32,
    /// Orders (entries, exits, order records) per second (the cloud asks for under 10); 0: off.
    pub orders_per_second: u32,
}

const VENDOR_RULES: &[fields::Rule] = &[
    req("union_id", Kind::Str, 15),
    req("ukey", Kind::Str, 24),
    req("park_id", Kind::Str, 24),
    opt("ckey", Kind::Str, 24),
    // The vendor's table says 18 characters, shorter than its own production host name.
    opt("cloud_addr", Kind::Str, 253),
    opt("cport", Kind::Num, 10),
    opt("bolink_addr", Kind::Str, 253),
    opt("bport", Kind::Num, 10),
    opt("local_id", Kind::Str, 196),
    opt("log_show", Kind::Num, 2),
    opt("set_params", Kind::Obj, 0),
];

const EXTRA_RULES: &[fields::Rule] = &[
    opt("data_dir", Kind::Str, 4096),
    opt("log_dir", Kind::Str, 4096),
    opt("image_url", Kind::Str, 2048),
    opt("mac", Kind::Str, 12),
    opt("wire_version", Kind::Str, 16),
    opt("heartbeat_secs", Kind::Num, 6),
    opt("connect_timeout_ms", Kind::Num, 8),
    opt("reconnect_max_secs", Kind::Num, 6),
    opt("answer_timeout_secs", Kind::Num, 6),
    opt("sync_timeout_ms", Kind::Num, 8),
    opt("rate_limit_per_10s", Kind::Num, 8),
    opt("orders_per_second", Kind::Num, 8),
    opt("outbox_max", Kind::Num, 12),
    opt("log_max_bytes", Kind::Num, 12),
    opt("log_max_files", Kind::Num, 4),
    opt("log_keep_days", Kind::Num, 6),
];

impl Config {
    /// Parses and validates the init JSON.
    pub fn parse(text: &str) -> Result<Config> {
        let obj = fields::parse_object(text)?;
        fields::check(&obj, VENDOR_RULES)?;
        fields::check(&obj, EXTRA_RULES)?;

        let s = |name: &str| str_of(&obj, name).unwrap_or("").to_string();
        let union_id = s("union_id");
        let park_id = s("park_id");
        let ukey = s("ukey");
        let ckey = str_of(&obj, "ckey")
            .filter(|k| !k.is_empty())
            .map(str::to_string);

        let cloud_addr = str_of(&obj, "cloud_addr").filter(|a| !a.is_empty());
        let bolink_addr = str_of(&obj, "bolink_addr").filter(|a| !a.is_empty());
        let port = |name: &str| -> Result<Option<u16>> {
            match u64_of(&obj, name) {
                None if obj.contains_key(name) => {
                    Err(Error::invalid(name, "must be a port number"))
                }
                None => Ok(None),
                Some(p) if (1..=65535).contains(&p) => Ok(Some(p as u16)),
                Some(p) => Err(Error::invalid(
                    name,
                    format!("{p} is not a port number (1-65535)"),
                )),
            }
        };
        let cport = port("cport")?;
        let bport = port("bport")?;

        let mode = match (cloud_addr, bolink_addr) {
            (None, None) => return Err(Error::missing("cloud_addr")),
            (Some(_), None) if ckey.is_some() => {
                return Err(Error::new(
                    ErrCode::MissingField,
                    "`ckey` selects the legacy two-link mode, which also needs `bolink_addr` and \
                     `bport`; leave `ckey` out for the SDK 4.x mode",
                ));
            }
            (Some(_), None) => Mode::Cloud,
            (Some(_), Some(_)) => Mode::Legacy,
            (None, Some(_)) => Mode::PayOnly,
        };
        let cloud = match cloud_addr {
            None => None,
            Some(host) => Some(Endpoint {
                host: host.to_string(),
                port: cport.ok_or_else(|| Error::missing("cport"))?,
                secret: match mode {
                    Mode::Legacy => ckey.clone().ok_or_else(|| {
                        Error::new(
                            ErrCode::MissingField,
                            "legacy mode (`bolink_addr` given) needs `ckey` to sign the cloud link",
                        )
                    })?,
                    _ => ukey.clone(),
                },
            }),
        };
        let bolink = match bolink_addr {
            None => None,
            Some(host) => Some(Endpoint {
                host: host.to_string(),
                port: bport.ok_or_else(|| Error::missing("bport"))?,
                secret: ukey.clone(),
            }),
        };

        let set_params = obj.get("set_params").filter(|v| v.is_object()).cloned();
        let params = set_params
            .as_ref()
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let fast = flag_of(&params, "fast").unwrap_or(false);
        let autoconnect = flag_of(&params, "autoconnect").unwrap_or(true);

        let local_id = s("local_id");
        if local_id.ends_with('_') {
            return Err(Error::invalid("local_id", "must not end with `_`"));
        }
        let mac = match str_of(&obj, "mac") {
            Some(mac) => normalise_mac(mac)?,
            None => crate::mac::first_adapter_mac(),
        };
        let wire_version = str_of(&obj, "wire_version")
            .map(str::to_string)
            .unwrap_or_else(|| match mode {
                Mode::Cloud => "4.2.0.0".to_string(),
                _ => "2.1.2.5".to_string(),
            });
        let wire_local_id = if local_id.is_empty() {
            format!("{mac}_{wire_version}")
        } else {
            format!("{mac}_{wire_version}_{local_id}")
        };

        let data_dir = match str_of(&obj, "data_dir") {
            Some("") => None,
            Some(dir) => Some(PathBuf::from(dir)),
            None => Some(default_data_dir()),
        };
        let log_dir = match str_of(&obj, "log_dir") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            // Without a data directory: `./logs`, as the vendor's SDK.
            _ => data_dir
                .as_ref()
                .map_or_else(|| PathBuf::from("logs"), |dir| dir.join("logs")),
        };
        let image_url = match str_of(&obj, "image_url") {
            Some(url) if !url.is_empty() => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(Error::invalid(
                        "image_url",
                        "must start with http:// or https://",
                    ));
                }
                url.to_string()
            }
            _ => default_image_url(cloud.as_ref().or(bolink.as_ref()).map(|e| e.host.as_str())),
        };

        let num = |name: &str, default: u64| u64_of(&obj, name).unwrap_or(default);
        let heartbeat = Duration::from_secs(num("heartbeat_secs", 10).max(1));
        Ok(Config {
            union_id,
            park_id,
            ukey,
            mode,
            cloud,
            bolink,
            local_id,
            wire_local_id,
            set_params,
            fast,
            autoconnect,
            log_show: u64_of(&obj, "log_show").unwrap_or(0) != 0,
            log_dir,
            log_max_bytes: num("log_max_bytes", 10 * 1024 * 1024).max(64 * 1024),
            log_max_files: num("log_max_files", 5).clamp(1, 1000) as usize,
            log_keep_days: num("log_keep_days", 30),
            data_dir,
            outbox_max: num("outbox_max", 200_000).max(1),
            image_url,
            heartbeat,
            connect_timeout: Duration::from_millis(num("connect_timeout_ms", 5000).max(100)),
            reconnect_max: Duration::from_secs(num("reconnect_max_secs", 30).max(1)),
            answer_timeout: Duration::from_secs(num("answer_timeout_secs", 20).max(1)),
            sync_timeout: Duration::from_millis(num("sync_timeout_ms", 10_000).max(100)),
            rate_limit_per_10s: num("rate_limit_per_10s", 95) as u32,
            orders_per_second: num("orders_per_second", 8) as u32,
        })
    }

    /// The links this configuration opens, in a fixed order.
    pub fn endpoints(&self) -> Vec<(crate::LinkId, Endpoint)> {
        let mut links = Vec::new();
        if let Some(cloud) = &self.cloud {
            links.push((crate::LinkId::Cloud, cloud.clone()));
        }
        if let Some(bolink) = &self.bolink {
            links.push((crate::LinkId::Bolink, bolink.clone()));
        }
        links
    }
}

fn normalise_mac(mac: &str) -> Result<String> {
    let mac = mac.to_ascii_lowercase();
    if mac.len() == 12 && mac.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(mac)
    } else {
        Err(Error::invalid("mac", "must be 12 hex digits"))
    }
}

/// `bolink-data` beside the host executable, so each billing program keeps its own outbox. When
/// the executable is a language runtime (`java`, `mono`, `dotnet`: shared by every program it
/// runs) or its folder is not writable, `bolink-data` in the working directory instead.
pub fn default_data_dir() -> PathBuf {
    const RUNTIMES: &[&str] = &[
        "java",
        "javaw",
        "mono",
        "mono-sgen",
        "dotnet",
        "python3",
        "python",
    ];
    let beside_exe = std::env::current_exe().ok().and_then(|exe| {
        let stem = exe.file_stem()?.to_string_lossy().to_ascii_lowercase();
        if RUNTIMES.contains(&stem.as_str()) {
            return None;
        }
        let dir = exe.parent()?.join("bolink-data");
        std::fs::create_dir_all(&dir).ok().map(|_| dir)
    });
    beside_exe.unwrap_or_else(|| PathBuf::from("bolink-data"))
}

/// The image endpoint for a cloud host: the test cloud's for test hosts, else production's.
fn default_image_url(host: Option<&str>) -> String {
    let host = host.unwrap_or("");
    let test = host.starts_with("ts.") || host.starts_with("beta.") || host.contains("test");
    if test {
        "https://beta.bolink.club/upload/carimgupload".to_string()
    } else if host == "127.0.0.1" || host == "localhost" {
        // A cloud on this machine is a simulator; its image endpoint is on the HTTP port.
        "http://127.0.0.1:8080/upload/carimgupload".to_string()
    } else {
        "https://s.bolink.club/upload/carimgupload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn base() -> Map<String, Value> {
        serde_json::from_str(
            r#"{"union_id":"200208","ukey":"K","park_id":"21835","cloud_addr":"127.0.0.1","cport":6791,"mac":"AABBCCDDEEFF","data_dir":""}"#,
        )
        .unwrap()
    }

    fn parse(obj: &Map<String, Value>) -> Result<Config> {
        Config::parse(&serde_json::to_string(obj).unwrap())
    }

    #[test]
    fn cloud_mode_defaults() {
        let c = parse(&base()).unwrap();
        assert_eq!(c.mode, Mode::Cloud);
        assert_eq!(c.cloud.as_ref().unwrap().secret, "K");
        assert_eq!(c.wire_local_id, "aabbccddeeff_4.2.0.0");
        assert_eq!(c.heartbeat, Duration::from_secs(10));
        assert!(c.data_dir.is_none());
    }

    #[test]
    fn legacy_needs_ckey_and_bport() {
        let mut o = base();
        o.insert("bolink_addr".into(), "127.0.0.1".into());
        assert_eq!(parse(&o).unwrap_err().code, ErrCode::MissingField);
        o.insert("ckey".into(), "C".into());
        assert!(parse(&o).unwrap_err().message.contains("bport"));
        o.insert("bport".into(), "6789".into());
        let c = parse(&o).unwrap();
        assert_eq!(c.mode, Mode::Legacy);
        assert_eq!(c.cloud.unwrap().secret, "C");
        assert_eq!(c.bolink.unwrap().secret, "K");
    }

    #[test]
    fn errors_name_the_field() {
        let mut o = base();
        o.insert("union_id".into(), "1234567890123456".into());
        let e = parse(&o).unwrap_err();
        assert_eq!(e.code, ErrCode::InvalidField);
        assert!(
            e.message.contains("union_id") && e.message.contains("15"),
            "{e}"
        );
        let mut o = base();
        o.remove("ukey");
        assert_eq!(parse(&o).unwrap_err(), Error::missing("ukey"));
        let mut o = base();
        o.insert("cport".into(), "abc".into());
        assert!(parse(&o).unwrap_err().message.contains("cport"));
        let mut o = base();
        o.insert("local_id".into(), "gate_".into());
        assert!(parse(&o).unwrap_err().message.contains("local_id"));
    }
}
