//! The outbox against real SQLite files in a scratch directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

/// A fresh directory under the system's temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bolink-outbox-unit-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst),
            now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn message(link: LinkId, n: u32) -> NewEntry {
    NewEntry {
        link,
        service: "park_log".into(),
        data: format!("{{\"log_id\":\"{n}\"}}"),
        expects_answer: true,
    }
}

fn log_ids(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(|e| e.data.clone()).collect()
}

#[test]
fn messages_survive_a_reopen_in_order_per_link() {
    let dir = Scratch::new();
    let outbox = Outbox::open(&dir.0, 100).unwrap();
    assert!(outbox.stats().persistent);
    assert!(outbox.problem().is_none());
    outbox
        .push(&[message(LinkId::Cloud, 1), message(LinkId::Bolink, 2)])
        .unwrap();
    outbox.push(&[message(LinkId::Cloud, 3)]).unwrap();
    outbox.close();
    drop(outbox);

    let outbox = Outbox::open(&dir.0, 100).unwrap();
    assert_eq!(outbox.stats().pending, 3);
    let cloud = outbox.next_after(LinkId::Cloud, 0, 16);
    assert_eq!(
        log_ids(&cloud),
        ["{\"log_id\":\"1\"}", "{\"log_id\":\"3\"}"]
    );
    assert_eq!(outbox.next_after(LinkId::Bolink, 0, 16).len(), 1);
    assert_eq!(outbox.next_after(LinkId::Cloud, cloud[0].id, 16).len(), 1);
    assert_eq!(outbox.next_after(LinkId::Cloud, 0, 1).len(), 1);
}

#[test]
fn ids_keep_growing_after_the_outbox_empties() {
    let dir = Scratch::new();
    let outbox = Outbox::open(&dir.0, 100).unwrap();
    let first = outbox.push(&[message(LinkId::Cloud, 1)]).unwrap()[0];
    outbox.remove(first);
    assert_eq!(outbox.stats().pending, 0);
    // A link that has read up to `first` must still see what comes next.
    let second = outbox.push(&[message(LinkId::Cloud, 2)]).unwrap()[0];
    assert!(second > first);
    assert_eq!(outbox.next_after(LinkId::Cloud, first, 16).len(), 1);
}

#[test]
fn rejected_messages_are_kept_aside_with_their_reason() {
    let dir = Scratch::new();
    let outbox = Outbox::open(&dir.0, 100).unwrap();
    let ids = outbox
        .push(&[message(LinkId::Cloud, 1), message(LinkId::Cloud, 2)])
        .unwrap();
    outbox.reject(ids[0], "error:缺少参数car_number");
    let stats = outbox.stats();
    assert_eq!((stats.pending, stats.rejected), (1, 1));
    outbox.close();
    drop(outbox);

    let outbox = Outbox::open(&dir.0, 100).unwrap();
    assert_eq!(outbox.stats().rejected, 1);
    assert_eq!(outbox.next_after(LinkId::Cloud, 0, 16)[0].id, ids[1]);
    outbox.close();
    let db = rusqlite::Connection::open(dir.0.join(disk::FILE_NAME)).unwrap();
    let (id, reason): (i64, String) = db
        .query_row("SELECT id, reason FROM rejected", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(
        (id as u64, reason.as_str()),
        (ids[0], "error:缺少参数car_number")
    );
}

#[test]
fn a_push_over_the_cap_is_refused_whole_and_nothing_is_dropped() {
    let dir = Scratch::new();
    let outbox = Outbox::open(&dir.0, 3).unwrap();
    outbox
        .push(&[message(LinkId::Cloud, 1), message(LinkId::Cloud, 2)])
        .unwrap();
    let error = outbox
        .push(&[message(LinkId::Cloud, 3), message(LinkId::Cloud, 4)])
        .unwrap_err();
    assert_eq!(error.code, ErrCode::OutboxFull);
    assert_eq!(outbox.stats().pending, 2);
    outbox.push(&[message(LinkId::Cloud, 3)]).unwrap();
    let waiting = outbox.next_after(LinkId::Cloud, 0, 16);
    outbox.remove(waiting[0].id);
    outbox.push(&[message(LinkId::Cloud, 4)]).unwrap();
    assert_eq!(outbox.stats().pending, 3);
}

#[test]
fn the_oldest_age_follows_deliveries() {
    let dir = Scratch::new();
    let outbox = Outbox::open(&dir.0, 100).unwrap();
    assert_eq!(outbox.stats().oldest_created_ms, 0);
    let first = outbox.push(&[message(LinkId::Cloud, 1)]).unwrap()[0];
    let first_ms = outbox.stats().oldest_created_ms;
    assert!(first_ms > 0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    outbox.push(&[message(LinkId::Cloud, 2)]).unwrap();
    assert_eq!(outbox.stats().oldest_created_ms, first_ms);
    outbox.remove(first);
    assert!(outbox.stats().oldest_created_ms >= first_ms + 20);
}

#[test]
fn a_second_sdk_on_the_same_directory_is_refused_until_the_first_closes() {
    let dir = Scratch::new();
    let first = Outbox::open(&dir.0, 100).unwrap();
    let error = Outbox::open(&dir.0, 100)
        .err()
        .expect("the second open is refused");
    assert_eq!(error.code, ErrCode::Storage);
    assert!(error.message.contains("in use"), "{}", error.message);
    assert!(
        error
            .message
            .contains(&format!("pid {}", std::process::id()))
    );
    first.close();
    assert!(Outbox::open(&dir.0, 100).unwrap().stats().persistent);
}

#[test]
fn a_damaged_database_runs_in_memory_and_is_left_untouched() {
    let dir = Scratch::new();
    let path = dir.0.join(disk::FILE_NAME);
    let garbage =
        b"this is not an SQLite database, just bytes a disk fault left behind".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let outbox = Outbox::open(&dir.0, 100).unwrap();
    assert!(!outbox.stats().persistent);
    let problem = outbox.problem().expect("a problem is reported");
    assert!(problem.contains("without persistence"), "{problem}");
    assert!(problem.contains(&path.display().to_string()), "{problem}");
    outbox.push(&[message(LinkId::Cloud, 1)]).unwrap();
    assert!(
        std::fs::read(&path).unwrap() == garbage,
        "the damaged file was changed"
    );
}

#[test]
fn a_damaged_page_is_found_at_open() {
    let dir = Scratch::new();
    let outbox = Outbox::open(&dir.0, 10_000).unwrap();
    let batch: Vec<_> = (0..2000).map(|n| message(LinkId::Cloud, n)).collect();
    outbox.push(&batch).unwrap();
    outbox.close();
    drop(outbox);
    // Checkpoint the WAL into the file, then overwrite a page in the middle of the table.
    let db = rusqlite::Connection::open(dir.0.join(disk::FILE_NAME)).unwrap();
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;")
        .unwrap();
    drop(db);
    let path = dir.0.join(disk::FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8 * 4096);
    for b in &mut bytes[4 * 4096..5 * 4096] {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();

    let outbox = Outbox::open(&dir.0, 100).unwrap();
    assert!(!outbox.stats().persistent);
    assert!(
        outbox.problem().unwrap().contains("damaged"),
        "{:?}",
        outbox.problem()
    );
    assert!(
        std::fs::read(&path).unwrap() == bytes,
        "the damaged file was changed"
    );
}

#[test]
fn an_unusable_directory_runs_in_memory_and_says_why() {
    let dir = Scratch::new();
    let not_a_dir = dir.0.join("plain-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let outbox = Outbox::open(&not_a_dir, 100).unwrap();
    assert!(!outbox.stats().persistent);
    let problem = outbox.problem().unwrap();
    assert!(
        problem.contains("cannot create the data directory"),
        "{problem}"
    );
}

#[test]
fn a_closed_outbox_refuses_pushes() {
    let dir = Scratch::new();
    let outbox = Outbox::open(&dir.0, 100).unwrap();
    outbox.close();
    let error = outbox.push(&[message(LinkId::Cloud, 1)]).unwrap_err();
    assert_eq!(error.code, ErrCode::Storage);
}

#[test]
fn concurrent_pushes_keep_each_callers_order() {
    let dir = Scratch::new();
    let outbox = std::sync::Arc::new(Outbox::open(&dir.0, 100_000).unwrap());
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let outbox = std::sync::Arc::clone(&outbox);
            std::thread::spawn(move || {
                let mut last = 0;
                for n in 0..50 {
                    let id = outbox
                        .push(&[message(LinkId::Cloud, t * 1000 + n)])
                        .unwrap()[0];
                    assert!(id > last);
                    last = id;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = outbox.next_after(LinkId::Cloud, 0, 1000);
    assert_eq!(all.len(), 200);
    assert_eq!(outbox.stats().pending, 200);
}
