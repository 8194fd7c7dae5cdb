//! The outbox: every upstream message is committed here before the call that gave it returns, and
//! leaves only when the server has answered it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::LinkId;
use crate::error::{ErrCode, Error, Result};

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

/// The outbox.
pub struct Outbox {
    memory: Mutex<Memory>,
    max: u64,
}

impl Outbox {
    /// An outbox kept in memory only: lost when the process ends.
    pub fn memory(max: u64) -> Outbox {
        Outbox {
            memory: Mutex::new(Memory {
                next_id: 1,
                ..Memory::default()
            }),
            max,
        }
    }

    /// Stores messages, all or none, in the order given.
    pub fn push(&self, entries: &[NewEntry]) -> Result<Vec<u64>> {
        let mut memory = self.lock();
        if memory.pending.len() as u64 + entries.len() as u64 > self.max {
            return Err(Error::new(
                ErrCode::OutboxFull,
                format!(
                    "the outbox holds {} messages, its limit; nothing was accepted",
                    self.max
                ),
            ));
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

    /// Up to `limit` waiting messages of one link with ids above `after`, oldest first.
    pub fn next_after(&self, link: LinkId, after: u64, limit: usize) -> Vec<Entry> {
        self.lock()
            .pending
            .range(after + 1..)
            .map(|(_, e)| e)
            .filter(|e| e.link == link)
            .take(limit)
            .cloned()
            .collect()
    }

    /// The message was delivered: forget it.
    pub fn remove(&self, id: u64) {
        self.lock().pending.remove(&id);
    }

    /// The server refused the message for good: keep it aside for inspection.
    pub fn reject(&self, id: u64, reason: &str) {
        let mut memory = self.lock();
        if let Some(entry) = memory.pending.remove(&id) {
            memory.rejected.push((entry, reason.to_string()));
        }
    }

    pub fn stats(&self) -> Stats {
        let memory = self.lock();
        Stats {
            pending: memory.pending.len() as u64,
            oldest_created_ms: memory.pending.values().next().map_or(0, |e| e.created_ms),
            rejected: memory.rejected.len() as u64,
            persistent: false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
