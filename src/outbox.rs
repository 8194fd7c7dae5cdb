//! The outbox: every upstream message is committed here before the call that gave it returns, and
//! leaves only when the server has answered it.
//!
//! Two stores behind one interface: SQLite in the data directory ([`Outbox::open`], see
//! `outbox/disk.rs` for the durability setting and the lock), or memory only
//! ([`Outbox::memory`], when `data_dir` is `""`, or as the fallback when the database cannot be
//! used). Ids grow with every message and order them; a link sends them in id order.
//!
//! Cap: at most `outbox_max` messages wait. A push that would pass it is refused whole with
//! OUTBOX_FULL; waiting messages are never dropped to make room.

mod disk;
mod group;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::LinkId;
use crate::error::{ErrCode, Error, Result};
use disk::{Disk, OpenError};

/// A message to store.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub link: LinkId,
    pub service: String,
    /// The `data` object as compact JSON: exactly the text that is signed and sent.
    pub data: String,
    /// Whether the server answers this message (replies to downstream requests get no answer).
    pub expects_answer: bool,
}

/// A stored message.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    pub link: LinkId,
    pub service: String,
    pub data: String,
    pub expects_answer: bool,
    /// Unix milliseconds when the host handed it over.
    pub created_ms: u64,
}

/// What the outbox holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub pending: u64,
    /// Unix milliseconds of the oldest waiting message, 0 when none waits.
    pub oldest_created_ms: u64,
    pub rejected: u64,
    pub persistent: bool,
}

#[derive(Default)]
struct Memory {
    next_id: u64,
    pending: BTreeMap<u64, Entry>,
    rejected: Vec<(Entry, String)>,
}

enum Store {
    Memory(Mutex<Memory>),
    Disk(Box<Disk>),
}

/// The outbox. Shared by the host threads that push and the link threads that send; every
/// method may be called from any thread.
pub struct Outbox {
    store: Store,
    max: u64,
    problem: Option<String>,
}

impl Outbox {
    /// An outbox kept in memory only: lost when the process ends.
    pub fn memory(max: u64) -> Outbox {
        Outbox {
            store: Store::Memory(Mutex::new(Memory {
                next_id: 1,
                ..Memory::default()
            })),
            max,
            problem: None,
        }
    }

    /// The durable outbox in `dir` (created when missing), holding at most `max` waiting
    /// messages. Messages left by an earlier run are kept and sent first.
    ///
    /// Errors: STORAGE when another SDK, in this or another process, holds the same directory.
    /// A directory or database that cannot be used (unwritable, damaged, from a newer version)
    /// is not an error: the outbox runs in memory and [`Outbox::problem`] says why. The
    /// database file is never deleted or replaced.
    pub fn open(dir: &Path, max: u64) -> Result<Outbox> {
        match Disk::open(dir) {
            Ok(disk) => {
                tracing::info!(
                    path = %disk.path().display(),
                    pending = disk.pending(),
                    rejected = disk.rejected(),
                    "outbox opened"
                );
                Ok(Outbox {
                    store: Store::Disk(Box::new(disk)),
                    max,
                    problem: None,
                })
            }
            Err(OpenError::InUse(why)) => {
                tracing::error!("outbox refused: {why}");
                Err(Error::new(ErrCode::Storage, why))
            }
            Err(OpenError::Damaged(why)) => {
                let problem = format!(
                    "{why}. The file is left as it is for inspection or recovery (sqlite3 \
                     .recover); move it away to start a new outbox. Until then bolink runs \
                     without persistence: messages are kept in memory and lost if the process \
                     ends"
                );
                Ok(Outbox::without_persistence(max, problem))
            }
            Err(OpenError::Unusable(why)) => {
                let problem = format!(
                    "{why}. bolink runs without persistence: messages are kept in memory and \
                     lost if the process ends"
                );
                Ok(Outbox::without_persistence(max, problem))
            }
        }
    }

    fn without_persistence(max: u64, problem: String) -> Outbox {
        tracing::error!("outbox: {problem}");
        Outbox {
            problem: Some(problem),
            ..Outbox::memory(max)
        }
    }

    /// Why the outbox runs in memory although persistence was asked for; `None` otherwise.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Stores messages, all or none, in the order given; on disk, committed before it returns.
    /// Returns their ids.
    ///
    /// Errors: OUTBOX_FULL when they do not fit under the cap; STORAGE when the disk refuses
    /// the write or the outbox is closed. Either way nothing of `entries` was stored.
    pub fn push(&self, entries: &[NewEntry]) -> Result<Vec<u64>> {
        match &self.store {
            Store::Disk(disk) => disk.push(entries, self.max),
            Store::Memory(memory) => {
                let mut memory = lock(memory);
                if memory.pending.len() as u64 + entries.len() as u64 > self.max {
                    return Err(disk::full(self.max));
                }
                let created_ms = now_ms();
                let mut ids = Vec::with_capacity(entries.len());
                for new in entries {
                    let id = memory.next_id;
                    memory.next_id += 1;
                    memory.pending.insert(
                        id,
                        Entry {
                            id,
                            link: new.link,
                            service: new.service.clone(),
                            data: new.data.clone(),
                            expects_answer: new.expects_answer,
                            created_ms,
                        },
                    );
                    ids.push(id);
                }
                Ok(ids)
            }
        }
    }

    /// Up to `limit` waiting messages of one link with ids above `after`, oldest first.
    pub fn next_after(&self, link: LinkId, after: u64, limit: usize) -> Vec<Entry> {
        match &self.store {
            Store::Disk(disk) => disk.next_after(link, after, limit),
            Store::Memory(memory) => lock(memory)
                .pending
                .range(after + 1..)
                .map(|(_, e)| e)
                .filter(|e| e.link == link)
                .take(limit)
                .cloned()
                .collect(),
        }
    }

    /// The message was delivered: forget it.
    pub fn remove(&self, id: u64) {
        match &self.store {
            Store::Disk(disk) => disk.remove(id),
            Store::Memory(memory) => {
                lock(memory).pending.remove(&id);
            }
        }
    }

    /// The server refused the message for good: keep it aside for inspection (on disk, in the
    /// `rejected` table with the reason).
    pub fn reject(&self, id: u64, reason: &str) {
        match &self.store {
            Store::Disk(disk) => disk.reject(id, reason),
            Store::Memory(memory) => {
                let mut memory = lock(memory);
                if let Some(entry) = memory.pending.remove(&id) {
                    memory.rejected.push((entry, reason.to_string()));
                }
            }
        }
    }

    /// Counts and the oldest message's time. Cheap: counters kept in memory, and on disk at
    /// most one indexed lookup.
    pub fn stats(&self) -> Stats {
        match &self.store {
            Store::Disk(disk) => Stats {
                pending: disk.pending(),
                oldest_created_ms: disk.oldest_created_ms(),
                rejected: disk.rejected(),
                persistent: true,
            },
            Store::Memory(memory) => {
                let memory = lock(memory);
                Stats {
                    pending: memory.pending.len() as u64,
                    oldest_created_ms: memory.pending.values().next().map_or(0, |e| e.created_ms),
                    rejected: memory.rejected.len() as u64,
                    persistent: false,
                }
            }
        }
    }

    /// Gives up the database and its lock so another SDK may open the directory; what waits
    /// stays on disk. Later pushes fail with STORAGE. Nothing to do in memory.
    pub fn close(&self) {
        if let Store::Disk(disk) = &self.store {
            disk.close();
            tracing::info!(path = %disk.path().display(), "outbox closed");
        }
    }
}

fn lock(memory: &Mutex<Memory>) -> std::sync::MutexGuard<'_, Memory> {
    memory.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
