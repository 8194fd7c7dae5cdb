//! The file log: switched on by `log_show`, rotated by size, old files removed by age. Secrets
//! (`ukey`, `ckey`, tokens, signs) and image bytes are never logged: callers log services and
//! keys, never whole wire lines.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use std::time::{Duration, SystemTime};

use crate::config::Config;

struct Sink {
    dir: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
    max_files: usize,
    keep: Duration,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);
static INSTALL: Once = Once::new();

const FILE_NAME: &str = "bolink.log";

/// Applies the log settings of a new configuration. The first call installs the library's
/// subscriber unless the host process already has one.
pub fn configure(config: &Config) {
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| SinkWriter)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_thread_names(true)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
    let sink = if config.log_show { open(config) } else { None };
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = sink;
}

fn open(config: &Config) -> Option<Sink> {
    let dir = config.log_dir.clone();
    let result = fs::create_dir_all(&dir).and_then(|_| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(FILE_NAME))
    });
    match result {
        Ok(file) => {
            let written = file.metadata().map(|m| m.len()).unwrap_or(0);
            let keep = Duration::from_secs(config.log_keep_days * 24 * 3600);
            remove_old(&dir, keep);
            Some(Sink {
                dir,
                file,
                written,
                max_bytes: config.log_max_bytes,
                max_files: config.log_max_files,
                keep,
            })
        }
        Err(e) => {
            eprintln!(
                "bolink: cannot open the log in {}: {e}; logging is off",
                dir.display()
            );
            None
        }
    }
}

struct SinkWriter;

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut guard = SINK.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sink) = guard.as_mut() {
            if sink.written + buf.len() as u64 > sink.max_bytes {
                sink.rotate();
            }
            if sink.file.write_all(buf).is_ok() {
                sink.written += buf.len() as u64;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    /// bolink.log becomes bolink.log.1, .1 becomes .2, and so on; the last one is deleted.
    fn rotate(&mut self) {
        let path = |n: usize| -> PathBuf {
            if n == 0 {
                self.dir.join(FILE_NAME)
            } else {
                self.dir.join(format!("{FILE_NAME}.{n}"))
            }
        };
        let _ = fs::remove_file(path(self.max_files));
        for n in (0..self.max_files).rev() {
            let _ = fs::rename(path(n), path(n + 1));
        }
        if let Ok(file) = File::create(path(0)) {
            self.file = file;
            self.written = 0;
        }
        remove_old(&self.dir, self.keep);
    }
}

fn remove_old(dir: &Path, keep: Duration) {
    if keep.is_zero() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > keep);
        if name.starts_with(&format!("{FILE_NAME}.")) && old {
            let _ = fs::remove_file(entry.path());
        }
    }
}
