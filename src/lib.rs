//! bolink: a cross-platform replacement for the Bolink parking-cloud SDK.
//!
//! The C ABI lives in [`ffi`]; everything else is plain Rust that the ABI calls:
//!
//! * [`config`]: the init JSON, validated;
//! * [`client`]: the running SDK (links, outbox, downstream);
//! * [`link`]: one TCP link to a back end (framing, login, heartbeat, reconnect);
//! * [`outbox`]: the queue every upstream message is committed to before a call returns;
//! * [`dispatch`]: downstream delivery to the host's callback or to `poll`;
//! * [`services`]: the message catalogue; [`fields`]: field checks; [`sign`]: the MD5 sign;
//! * [`carpic`]: section 2.12 vehicle images over HTTP;
//! * [`log`]: the rotating file log.

pub mod carpic;
pub mod client;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod ffi;
pub mod fields;
pub mod link;
pub mod log;
pub mod mac;
pub mod outbox;
pub mod services;
pub mod sign;

pub use client::Client;
pub use dispatch::Downstream;
pub use error::{ErrCode, Error, Result};

/// The library's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The two links the SDK may open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkId {
    Cloud,
    Bolink,
    /// Not a TCP link: images (2.12) waiting to be posted over HTTP again.
    Images,
}

impl LinkId {
    pub fn name(self) -> &'static str {
        match self {
            LinkId::Cloud => "cloud",
            LinkId::Bolink => "bolink",
            LinkId::Images => "images",
        }
    }
}

/// Opens the outbox the configuration asks for: on disk in `data_dir`, or in memory when
/// `data_dir` is `""`. See [`outbox::Outbox::open`] for what happens when the disk fails.
fn outbox_open(config: &config::Config) -> Result<outbox::Outbox> {
    match &config.data_dir {
        Some(dir) => outbox::Outbox::open(dir, config.outbox_max),
        None => Ok(outbox::Outbox::memory(config.outbox_max)),
    }
}
