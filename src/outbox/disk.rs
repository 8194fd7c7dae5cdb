//! The outbox on disk: one SQLite database, `outbox.db`, in the data directory.
//!
//! Durability: WAL journal. Commits that store new messages run with `synchronous=FULL`, so a
//! message whose call returned is in the WAL file and flushed to the disk (fsync), and survives
//! a crash or a power cut. Removals and rejections run with `synchronous=NORMAL`: a power cut
//! may undo the last few of them, which only means those messages are sent once more.
//!
//! Ownership: the database is opened in `locking_mode=EXCLUSIVE` and a write transaction takes
//! the lock at once, so one process (one SDK) holds it until `close`; a second opener gets
//! SQLITE_BUSY and is refused. The lock is an OS file lock: it goes with the process, also when
//! the process is killed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

use super::group::Group;
use super::{Entry, NewEntry, now_ms};
use crate::LinkId;
use crate::error::{ErrCode, Error, Result};

/// The database file inside the data directory.
pub(super) const FILE_NAME: &str = "outbox.db";

/// Who holds the database, written beside it, so a refused second process can name the first.
const OWNER_FILE_NAME: &str = "outbox.owner";

/// The schema version stored in `user_version`.
const SCHEMA_VERSION: i64 = 1;

/// How long to wait for a lock held by a process that is just closing its SDK.
const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS pending (
        id INTEGER PRIMARY KEY,
        link TEXT NOT NULL,
        service TEXT NOT NULL,
        data TEXT NOT NULL,
        expects_answer INTEGER NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS pending_link_id ON pending (link, id);
    CREATE TABLE IF NOT EXISTS rejected (
        id INTEGER PRIMARY KEY,
        link TEXT NOT NULL,
        service TEXT NOT NULL,
        data TEXT NOT NULL,
        expects_answer INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        rejected_ms INTEGER NOT NULL,
        reason TEXT NOT NULL
    );
";

/// Why the database could not be used.
#[derive(Debug)]
pub(super) enum OpenError {
    /// Another process (or another SDK in this process) holds it.
    InUse(String),
    /// The file is not a database or fails the integrity check.
    Damaged(String),
    /// The directory or the file cannot be created, read or written.
    Unusable(String),
}

/// A batch of messages to store, one request per `push`.
type Push = Vec<NewEntry>;

/// The SQLite outbox. All methods may be called from any thread.
pub(super) struct Disk {
    path: PathBuf,
    db: Mutex<Db>,
    group: Group<Push, Result<Vec<u64>>>,
    pending: AtomicU64,
    rejected: AtomicU64,
}

struct Db {
    /// `None` once closed.
    conn: Option<Connection>,
    next_id: u64,
    /// `(id, created_ms)` of the oldest waiting message when known; `None` when unknown.
    oldest: Option<(u64, u64)>,
    sync_full: bool,
}

impl Disk {
    /// Opens or creates `<dir>/outbox.db` and takes its lock.
    pub(super) fn open(dir: &Path) -> std::result::Result<Disk, OpenError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            OpenError::Unusable(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(FILE_NAME);
        let failed = |doing: &str, e: rusqlite::Error| classify(&path, doing, e);

        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| failed("open", e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| failed("set up", e))?;
        // Exclusive before WAL: the WAL index then lives in this process's memory (no -shm
        // file), and the file lock, once taken, is kept until the connection closes.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(|e| failed("lock", e))?;
        conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")
            .map_err(|e| failed("lock", e))?;
        write_owner(dir);

        // Checked before anything is written, so a damaged file stays exactly as it was found.
        check_integrity(&conn, &path)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| failed("open", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError::Unusable(format!(
                "{} cannot use a write-ahead log (journal mode {mode})",
                path.display()
            )));
        }
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| failed("read", e))?;
        if version > SCHEMA_VERSION {
            return Err(OpenError::Unusable(format!(
                "{} was written by a newer bolink (schema {version}, this one knows {})",
                path.display(),
                SCHEMA_VERSION
            )));
        }
        conn.execute_batch(SCHEMA)
            .map_err(|e| failed("create the tables of", e))?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| failed("write", e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| failed("set up", e))?;
        // A WAL grown by a burst of images is cut back after each checkpoint.
        conn.pragma_update(None, "journal_size_limit", 8 * 1024 * 1024)
            .map_err(|e| failed("set up", e))?;

        let count = |table: &str| -> rusqlite::Result<u64> {
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n as u64)
        };
        let pending = count("pending").map_err(|e| failed("read", e))?;
        let rejected = count("rejected").map_err(|e| failed("read", e))?;
        let last_id: i64 = conn
            .query_row(
                "SELECT max(coalesce((SELECT max(id) FROM pending), 0), \
                 coalesce((SELECT max(id) FROM rejected), 0))",
                [],
                |row| row.get(0),
            )
            .map_err(|e| failed("read", e))?;

        Ok(Disk {
            path,
            db: Mutex::new(Db {
                conn: Some(conn),
                next_id: last_id as u64 + 1,
                oldest: None,
                sync_full: true,
            }),
            group: Group::new(),
            pending: AtomicU64::new(pending),
            rejected: AtomicU64::new(rejected),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Stores one request, all or none, committed to disk before it returns. Requests of
    /// concurrent callers share one commit.
    pub(super) fn push(&self, entries: &[NewEntry], max: u64) -> Result<Vec<u64>> {
        self.group.submit(
            entries.to_vec(),
            |batch| self.commit(batch, max),
            || {
                Err(Error::new(
                    ErrCode::Internal,
                    "the outbox commit failed; see the log",
                ))
            },
        )
    }

    fn commit(&self, batch: Vec<Push>, max: u64) -> Vec<Result<Vec<u64>>> {
        let mut db = self.lock();
        let db = &mut *db;
        let Some(conn) = db.conn.as_mut() else {
            return batch.iter().map(|_| Err(closed())).collect();
        };
        if !db.sync_full {
            if let Err(e) = conn.pragma_update(None, "synchronous", "FULL") {
                let error = storage("prepare a commit", &e);
                return batch.iter().map(|_| Err(error.clone())).collect();
            }
            db.sync_full = true;
        }

        let pending = self.pending.load(Ordering::SeqCst);
        let created_ms = now_ms();
        let mut next_id = db.next_id;
        let mut stored = 0u64;
        let attempt = (|| -> rusqlite::Result<Vec<Result<Vec<u64>>>> {
            let tx = conn.transaction()?;
            let mut answers = Vec::with_capacity(batch.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO pending (id, link, service, data, expects_answer, created_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for request in &batch {
                    if pending + stored + request.len() as u64 > max {
                        answers.push(Err(full(max)));
                        continue;
                    }
                    let mut ids = Vec::with_capacity(request.len());
                    for entry in request {
                        insert.execute(params![
                            next_id as i64,
                            entry.link.name(),
                            entry.service,
                            entry.data,
                            entry.expects_answer,
                            created_ms as i64,
                        ])?;
                        ids.push(next_id);
                        next_id += 1;
                    }
                    stored += request.len() as u64;
                    answers.push(Ok(ids));
                }
            }
            tx.commit()?;
            Ok(answers)
        })();

        match attempt {
            Ok(answers) => {
                if stored > 0 {
                    if pending == 0 {
                        db.oldest = Some((db.next_id, created_ms));
                    }
                    db.next_id = next_id;
                    self.pending.fetch_add(stored, Ordering::SeqCst);
                }
                answers
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), "outbox commit failed: {e}");
                let error = storage("store the message in", &e);
                batch.iter().map(|_| Err(error.clone())).collect()
            }
        }
    }

    /// Up to `limit` waiting messages of `link` with ids above `after`, oldest first. A read
    /// error is logged and reads as nothing waiting; the link asks again later.
    pub(super) fn next_after(&self, link: LinkId, after: u64, limit: usize) -> Vec<Entry> {
        let db = self.lock();
        let Some(conn) = db.conn.as_ref() else {
            return Vec::new();
        };
        let read = || -> rusqlite::Result<Vec<Entry>> {
            let mut select = conn.prepare_cached(
                "SELECT id, service, data, expects_answer, created_ms FROM pending \
                 WHERE link = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )?;
            let rows =
                select.query_map(params![link.name(), after as i64, limit as i64], |row| {
                    Ok(Entry {
                        id: row.get::<_, i64>(0)? as u64,
                        link,
                        service: row.get(1)?,
                        data: row.get(2)?,
                        expects_answer: row.get(3)?,
                        created_ms: row.get::<_, i64>(4)? as u64,
                    })
                })?;
            rows.collect()
        };
        read().unwrap_or_else(|e| {
            tracing::error!(path = %self.path.display(), link = link.name(), "outbox read failed: {e}");
            Vec::new()
        })
    }

    /// Forgets a delivered message.
    pub(super) fn remove(&self, id: u64) {
        let mut db = self.lock();
        let removed = relaxed(&mut db, |conn| {
            conn.prepare_cached("DELETE FROM pending WHERE id = ?1")?
                .execute([id as i64])
        });
        match removed {
            Ok(n) if n > 0 => self.forget(&mut db, id),
            Ok(_) => {}
            Err(e) => {
                // The message stays and goes again after the next reconnect: a duplicate, never
                // a loss.
                tracing::error!(path = %self.path.display(), id, "outbox remove failed: {e}");
            }
        }
    }

    /// Moves a message the server refused for good to the `rejected` table with its reason.
    pub(super) fn reject(&self, id: u64, reason: &str) {
        let mut db = self.lock();
        let moved = relaxed(&mut db, |conn| {
            let tx = conn.transaction()?;
            let moved = tx
                .prepare_cached(
                    "INSERT INTO rejected \
                     (id, link, service, data, expects_answer, created_ms, rejected_ms, reason) \
                     SELECT id, link, service, data, expects_answer, created_ms, ?2, ?3 \
                     FROM pending WHERE id = ?1",
                )?
                .execute(params![id as i64, now_ms() as i64, reason])?;
            tx.prepare_cached("DELETE FROM pending WHERE id = ?1")?
                .execute([id as i64])?;
            tx.commit()?;
            Ok(moved)
        });
        match moved {
            Ok(n) if n > 0 => {
                self.forget(&mut db, id);
                self.rejected.fetch_add(1, Ordering::SeqCst);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(path = %self.path.display(), id, "outbox reject failed: {e}");
            }
        }
    }

    fn forget(&self, db: &mut Db, id: u64) {
        self.pending.fetch_sub(1, Ordering::SeqCst);
        if db.oldest.is_some_and(|(oldest, _)| oldest == id) {
            db.oldest = None;
        }
    }

    pub(super) fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    pub(super) fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::SeqCst)
    }

    /// Unix milliseconds of the oldest waiting message, 0 when none waits. One indexed lookup
    /// when the oldest has left since the last call, none otherwise.
    pub(super) fn oldest_created_ms(&self) -> u64 {
        if self.pending() == 0 {
            return 0;
        }
        let mut db = self.lock();
        if let Some((_, created_ms)) = db.oldest {
            return created_ms;
        }
        let Some(conn) = db.conn.as_ref() else {
            return 0;
        };
        let oldest = conn
            .prepare_cached("SELECT id, created_ms FROM pending ORDER BY id LIMIT 1")
            .and_then(|mut s| {
                s.query_row([], |row| {
                    Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64))
                })
                .optional()
            });
        match oldest {
            Ok(found) => {
                db.oldest = found;
                found.map_or(0, |(_, created_ms)| created_ms)
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), "outbox read failed: {e}");
                0
            }
        }
    }

    /// Closes the database and gives up its lock. Later pushes fail with STORAGE.
    pub(super) fn close(&self) {
        let conn = self.lock().conn.take();
        if let Some(conn) = conn {
            if let Err((_, e)) = conn.close() {
                tracing::warn!(path = %self.path.display(), "outbox close: {e}");
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs a write whose loss at a power cut is harmless (the message is sent once more) without
/// waiting for the disk.
fn relaxed<T>(
    db: &mut Db,
    write: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let Some(conn) = db.conn.as_mut() else {
        let misuse = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE);
        return Err(rusqlite::Error::SqliteFailure(
            misuse,
            Some("the outbox is closed".into()),
        ));
    };
    if db.sync_full {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        db.sync_full = false;
    }
    write(conn)
}

/// `PRAGMA quick_check`: reads every page once, so a damaged file is found at init rather than
/// at the first message that touches the damage.
fn check_integrity(conn: &Connection, path: &Path) -> std::result::Result<(), OpenError> {
    let mut problems = Vec::new();
    let checked = conn.prepare("PRAGMA quick_check(5)").and_then(|mut s| {
        let rows = s.query_map([], |row| row.get::<_, String>(0))?;
        for row in rows {
            problems.push(row?);
        }
        Ok(())
    });
    if let Err(e) = checked {
        return Err(classify(path, "check", e));
    }
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(OpenError::Damaged(format!(
        "{} is damaged: {}",
        path.display(),
        problems.join("; ")
    )))
}

/// Sorts an SQLite error into in use, damaged or unusable.
fn classify(path: &Path, doing: &str, e: rusqlite::Error) -> OpenError {
    let text = format!("cannot {doing} {}: {e}", path.display());
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            let owner = std::fs::read_to_string(path.with_file_name(OWNER_FILE_NAME))
                .ok()
                .map(|text| format!(" (last taken by {})", text.trim()))
                .unwrap_or_default();
            OpenError::InUse(format!(
                "{} is in use by another SDK{owner}; each SDK needs a data_dir of its own",
                path.display()
            ))
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            OpenError::Damaged(format!("{} is damaged: {e}", path.display()))
        }
        _ => OpenError::Unusable(text),
    }
}

/// Notes who holds the lock. Best effort: the file only improves the refusal message.
fn write_owner(dir: &Path) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let text = format!("pid {} {exe} at unix ms {}\n", std::process::id(), now_ms());
    let _ = std::fs::write(dir.join(OWNER_FILE_NAME), text);
}

fn storage(doing: &str, e: &rusqlite::Error) -> Error {
    Error::new(
        ErrCode::Storage,
        format!("cannot {doing} the outbox: {e}; nothing was accepted"),
    )
}

fn closed() -> Error {
    Error::new(
        ErrCode::Storage,
        "the outbox is closed (the SDK is stopping); nothing was accepted",
    )
}

pub(super) fn full(max: u64) -> Error {
    Error::new(
        ErrCode::OutboxFull,
        format!(
            "the outbox holds {max} undelivered messages, its limit (outbox_max); nothing was \
             accepted, nothing was dropped; it makes room as the link delivers"
        ),
    )
}
