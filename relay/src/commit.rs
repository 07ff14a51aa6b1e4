//! Group commit of accepted batches: one thread writes whatever batches are
//! waiting in one transaction and one flush, then answers each.
//!
//! With a transaction and an fsync per request, 2,000 gateways reconnecting
//! at once queued up behind 2,000 fsyncs; now the batches that arrive while
//! one flush runs share the next. Each batch is still durable before its
//! answer, as DESIGN.md promises.

use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::store::{Accepted, Incoming, Store};

/// Most batches in one transaction: bounds the time a transaction holds
/// and the memory its write set takes.
const MAX_GROUP: usize = 512;
/// Most events in one transaction (a batch holds at most 1,000).
const MAX_GROUP_EVENTS: usize = 20_000;

type Reply = oneshot::Sender<Result<Accepted, String>>;

/// The handle requests use; cheap to clone. The thread stops when the last
/// handle is dropped, after writing what it was given.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<(Incoming, Reply)>,
}

/// The committer thread cannot be reached (it stopped).
#[derive(Debug, thiserror::Error)]
#[error("the relay's store writer has stopped")]
pub struct Stopped;

impl Committer {
    /// Starts the writer thread for `store`.
    pub fn start(store: Store) -> std::io::Result<Committer> {
        let (tx, rx) = mpsc::channel::<(Incoming, Reply)>();
        std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || run(&store, &rx))?;
        Ok(Committer { tx })
    }

    /// Accepts `batch` durably, in the next group.
    pub async fn accept(&self, batch: Incoming) -> Result<Result<Accepted, String>, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((batch, reply)).map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }
}

fn run(store: &Store, rx: &mpsc::Receiver<(Incoming, Reply)>) {
    let mut waiting: Option<(Incoming, Reply)> = None;
    loop {
        let first = match waiting.take() {
            Some(w) => w,
            None => match rx.recv() {
                Ok(w) => w,
                Err(_) => return,
            },
        };
        let mut events = first.0.events.len();
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(next) if events + next.0.events.len() > MAX_GROUP_EVENTS => {
                    waiting = Some(next);
                    break;
                }
                Ok(next) => {
                    events += next.0.events.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let (batches, replies): (Vec<Incoming>, Vec<Reply>) = group.into_iter().unzip();
        match store.accept_group(&batches) {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    // The client may have gone; its batch is stored anyway.
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, batches = replies.len(), "cannot store accepted batches");
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}
