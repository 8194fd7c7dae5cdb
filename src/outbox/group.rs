//! Group commit: callers that arrive while a commit is under way are committed together in the
//! next one, so one `fsync` serves many host threads.
//!
//! No thread of its own: the first caller that finds no commit running becomes the leader, takes
//! every queued request, commits them in one go and hands each caller its answer. The others
//! wait on a condition variable. Requests are committed in the order they were queued.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Condvar, Mutex, MutexGuard};

/// A queue of requests `R` committed in batches, each answered with an `A`.
pub(super) struct Group<R, A> {
    state: Mutex<State<R, A>>,
    done: Condvar,
}

struct State<R, A> {
    next_ticket: u64,
    queue: Vec<(u64, R)>,
    answers: HashMap<u64, A>,
    leading: bool,
}

impl<R, A> Group<R, A> {
    pub(super) fn new() -> Group<R, A> {
        Group {
            state: Mutex::new(State {
                next_ticket: 0,
                queue: Vec::new(),
                answers: HashMap::new(),
                leading: false,
            }),
            done: Condvar::new(),
        }
    }

    /// Queues `request` and blocks until it is committed. `commit` gets a batch in queue order
    /// and returns one answer per request, in the same order; it runs on whichever caller leads
    /// the batch. When `commit` panics, every caller of that batch gets `abandoned()` and the
    /// panic goes on in the leader.
    pub(super) fn submit(
        &self,
        request: R,
        commit: impl FnOnce(Vec<R>) -> Vec<A>,
        abandoned: impl Fn() -> A,
    ) -> A {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push((ticket, request));

        loop {
            if let Some(answer) = state.answers.remove(&ticket) {
                return answer;
            }
            if state.leading {
                state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }

            // Lead: the queue holds this caller's request, since no batch took it yet.
            state.leading = true;
            let (tickets, batch): (Vec<u64>, Vec<R>) =
                std::mem::take(&mut state.queue).into_iter().unzip();
            drop(state);
            let outcome = catch_unwind(AssertUnwindSafe(|| commit(batch)));

            let mut relocked = self.lock();
            relocked.leading = false;
            let panic = match outcome {
                Ok(answers) => {
                    debug_assert_eq!(answers.len(), tickets.len());
                    relocked
                        .answers
                        .extend(tickets.iter().copied().zip(answers));
                    None
                }
                Err(panic) => {
                    relocked
                        .answers
                        .extend(tickets.iter().map(|t| (*t, abandoned())));
                    Some(panic)
                }
            };
            // A commit that answered too few requests must not leave callers waiting forever.
            for t in &tickets {
                if !relocked.answers.contains_key(t) {
                    relocked.answers.insert(*t, abandoned());
                }
            }
            let answer = relocked.answers.remove(&ticket).unwrap_or_else(&abandoned);
            drop(relocked);
            self.done.notify_all();
            if let Some(panic) = panic {
                resume_unwind(panic);
            }
            return answer;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<R, A>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_caller_gets_its_own_answer_and_batches_form_under_load() {
        let group: Arc<Group<u64, u64>> = Arc::new(Group::new());
        let commits = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let group = Arc::clone(&group);
                let commits = Arc::clone(&commits);
                std::thread::spawn(move || {
                    for i in 0..200u64 {
                        let request = t * 1000 + i;
                        let answer = group.submit(
                            request,
                            |batch| {
                                commits.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_micros(200));
                                batch.into_iter().map(|r| r * 2).collect()
                            },
                            || u64::MAX,
                        );
                        assert_eq!(answer, request * 2);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let commits = commits.load(Ordering::SeqCst);
        assert!(
            commits < 1600,
            "{commits} commits for 1600 requests: no batching"
        );
    }

    #[test]
    fn a_panicking_commit_answers_abandoned_and_the_group_goes_on() {
        let group: Group<u32, Option<u32>> = Group::new();
        let result = catch_unwind(AssertUnwindSafe(|| {
            group.submit(1, |_| panic!("disk on fire"), || None)
        }));
        assert!(result.is_err());
        let answer = group.submit(2, |batch| batch.into_iter().map(Some).collect(), || None);
        assert_eq!(answer, Some(2));
    }
}
