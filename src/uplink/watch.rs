//! What others may see of the uplink: its state for `edgetherm status`, and
//! the fate of a test event for `edgetherm test-alert`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, Notify};

/// How many delivered test ids are remembered for a late `wait_test`.
const RECENT: usize = 16;

/// The uplink as `edgetherm status` shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UplinkStatus {
    /// Where batches go.
    pub url: String,
    /// `starting`, `ok`, `retrying` (relay down or busy) or `refused` (a person must act).
    pub state: String,
    /// When the relay last accepted a batch (RFC 3339).
    pub last_ok: Option<String>,
    /// The last failure, with what to do about it.
    pub last_error: Option<String>,
    /// Failed attempts since the last success.
    pub failures: u64,
    /// Events the relay accepted since the agent started.
    pub delivered: u64,
    /// Batches (with or without events) the relay accepted since start.
    pub batches: u64,
}

/// How a test event fared.
#[derive(Debug, Clone, PartialEq)]
pub enum TestOutcome {
    /// The relay accepted it; `route` is what it said about recipients
    /// (None from a relay too old to say).
    Delivered {
        /// Teams conversations it is queued for, and whether the relay sends to Teams at all.
        route: Option<(u32, bool)>,
    },
    /// The attempt that carried it failed; it stays in the outbox.
    Failed(String),
}

#[derive(Default)]
struct Waiting {
    waiters: HashMap<String, Vec<oneshot::Sender<TestOutcome>>>,
    recent: VecDeque<(String, TestOutcome)>,
}

/// Shared between the uplink task and its readers.
#[derive(Clone, Default)]
pub struct UplinkHandle {
    status: Arc<Mutex<UplinkStatus>>,
    waiting: Arc<Mutex<Waiting>>,
    /// Cuts a backoff short (an operator is waiting on a test alert).
    pub(super) retry_now: Arc<Notify>,
}

impl UplinkHandle {
    /// A copy of the current status.
    pub fn status(&self) -> UplinkStatus {
        self.status.lock().expect("uplink status").clone()
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut UplinkStatus)) {
        f(&mut self.status.lock().expect("uplink status"));
    }

    /// Waits until the uplink has tried to deliver event `id` (retrying now
    /// if it was backing off), or `timeout` passes (`None`).
    pub async fn wait_test(&self, id: &str, timeout: Duration) -> Option<TestOutcome> {
        let rx = {
            let mut w = self.waiting.lock().expect("uplink waiters");
            if let Some((_, done)) = w.recent.iter().find(|(i, _)| i == id) {
                return Some(done.clone());
            }
            let (tx, rx) = oneshot::channel();
            w.waiters.entry(id.to_string()).or_default().push(tx);
            rx
        };
        self.retry_now.notify_one();
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }

    /// Tells whoever waits on `id` how it went.
    pub(super) fn settle(&self, id: &str, outcome: TestOutcome) {
        let mut w = self.waiting.lock().expect("uplink waiters");
        if let Some(list) = w.waiters.remove(id) {
            for tx in list {
                let _ = tx.send(outcome.clone());
            }
        }
        if matches!(outcome, TestOutcome::Delivered { .. }) {
            if w.recent.len() == RECENT {
                w.recent.pop_front();
            }
            w.recent.push_back((id.to_string(), outcome));
        }
    }

    /// Tells every waiter that the last attempt failed, and why.
    pub(super) fn fail_waiting(&self, why: &str) {
        let mut w = self.waiting.lock().expect("uplink waiters");
        for (_, list) in w.waiters.drain() {
            for tx in list {
                let _ = tx.send(TestOutcome::Failed(why.to_string()));
            }
        }
    }

    /// True if someone waits on `id`.
    #[cfg(test)]
    fn is_awaited(&self, id: &str) -> bool {
        self.waiting
            .lock()
            .expect("uplink waiters")
            .waiters
            .contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_hears_the_outcome_even_when_it_came_first() {
        let h = UplinkHandle::default();
        let delivered = TestOutcome::Delivered {
            route: Some((2, true)),
        };
        h.settle("early", delivered.clone());
        assert_eq!(
            h.wait_test("early", Duration::from_millis(10)).await,
            Some(delivered)
        );

        let h2 = h.clone();
        let waiter =
            tokio::spawn(async move { h2.wait_test("late", Duration::from_secs(5)).await });
        while !h.is_awaited("late") {
            tokio::task::yield_now().await;
        }
        h.settle("late", TestOutcome::Failed("relay down".into()));
        assert_eq!(
            waiter.await.unwrap(),
            Some(TestOutcome::Failed("relay down".into()))
        );
        // A failure is not remembered: a later wait triggers a new attempt.
        assert_eq!(h.wait_test("late", Duration::from_millis(10)).await, None);

        // A failed attempt answers every waiter, in that batch or not.
        let h3 = h.clone();
        let behind =
            tokio::spawn(async move { h3.wait_test("behind", Duration::from_secs(5)).await });
        while !h.is_awaited("behind") {
            tokio::task::yield_now().await;
        }
        h.fail_waiting("relay down");
        assert_eq!(
            behind.await.unwrap(),
            Some(TestOutcome::Failed("relay down".into()))
        );
    }
}
