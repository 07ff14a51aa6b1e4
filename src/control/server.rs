//! The agent's side of the control socket.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use super::{HistoryRow, Reply, Request, StatusReport};
use crate::store::Store;
use crate::uplink::{TestOutcome, UplinkHandle};

/// How long `test-alert` waits for the relay (the CLI waits a little longer).
pub const TEST_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Requests the core loop must answer (it owns the engine and the last values).
pub type CoreHandle = mpsc::Sender<(Request, oneshot::Sender<Reply>)>;

/// Binds the socket (replacing a stale one left by a killed agent) and serves
/// connections until the task is dropped. Fails if another agent answers there.
pub async fn serve(
    path: PathBuf,
    store: Store,
    core: CoreHandle,
    uplink: Option<UplinkHandle>,
) -> std::io::Result<Served> {
    if path.exists() {
        if UnixStream::connect(&path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another edgetherm agent is already running with this data_dir (it answers on {})", path.display()),
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    // Owner and group only: status shows sensor ids and alert states.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))?;
    let inode = std::fs::metadata(&path)?.ino();
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "control socket: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            };
            let store = store.clone();
            let core = core.clone();
            let uplink = uplink.clone();
            tokio::spawn(async move {
                if let Err(e) = handle(stream, &store, &core, uplink.as_ref()).await {
                    tracing::debug!(error = %e, "control connection ended with an error");
                }
            });
        }
    });
    Ok(Served { task, path, inode })
}

/// A bound control socket and its serving task.
pub struct Served {
    task: tokio::task::JoinHandle<()>,
    path: PathBuf,
    inode: u64,
}

impl Served {
    /// Stops serving and removes the socket file — only if it is still ours:
    /// a newer agent may have replaced it (e.g. after the data dir was reset).
    pub fn close(self) {
        self.task.abort();
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

async fn handle(
    stream: UnixStream,
    store: &Store,
    core: &CoreHandle,
    uplink: Option<&UplinkHandle>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    // A request is one short line; refuse to buffer more than 64 KiB.
    let mut reader = tokio::io::AsyncReadExt::take(BufReader::new(read), 64 * 1024);
    reader.read_line(&mut line).await?;
    let reply = match serde_json::from_str::<Request>(line.trim()) {
        Err(e) => Reply::Error {
            message: format!("bad control request: {e}"),
        },
        Ok(Request::History {
            sensor,
            since_ms,
            limit,
        }) => {
            let store = store.clone();
            // A long range scan must not hold up an async worker.
            tokio::task::spawn_blocking(move || history(&store, &sensor, since_ms, limit))
                .await
                .unwrap_or(Reply::Error {
                    message: "history query failed".into(),
                })
        }
        Ok(req) => {
            let (tx, rx) = oneshot::channel();
            if core.send((req, tx)).await.is_err() {
                Reply::Error {
                    message: "the agent is shutting down".into(),
                }
            } else {
                let reply = rx.await.unwrap_or(Reply::Error {
                    message: "the agent did not answer".into(),
                });
                match (reply, uplink) {
                    (Reply::TestAlert { id, .. }, Some(u)) => follow_test(u, id).await,
                    (Reply::Status(s), _) => with_last_hour(store, s).await,
                    (reply, _) => reply,
                }
            }
        }
    };
    let mut body = serde_json::to_vec(&reply).map_err(std::io::Error::other)?;
    body.push(b'\n');
    write.write_all(&body).await?;
    write.shutdown().await
}

/// Adds each sensor's last hour to the core's report. Here, not in the
/// core: the core's thread is the agent's only one, and these are store scans.
async fn with_last_hour(store: &Store, mut report: Box<StatusReport>) -> Reply {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        super::last_hour::fill(&store, &mut report.sensors, report.wall_ms);
        Reply::Status(report)
    })
    .await
    .unwrap_or(Reply::Error {
        message: "reading the sensors' last hour failed".into(),
    })
}

/// Waits for the uplink to carry a test event to the relay, and says where
/// the chain stopped if it did not get there.
async fn follow_test(uplink: &UplinkHandle, id: String) -> Reply {
    let status = || uplink.status();
    match uplink.wait_test(&id, TEST_WAIT).await {
        Some(TestOutcome::Delivered { route: Some((n, true)) }) if n > 0 => Reply::TestAlert {
            delivered_to: format!("the relay ({}), which queued it for {n} Teams conversation(s)", status().url),
            id,
        },
        Some(TestOutcome::Delivered { route: Some((_, true)) }) => Reply::Error {
            message: format!("test alert {id} reached the relay ({}), but no Teams conversation subscribes to this gateway: install the Teams app (or message the bot `subscribe *`) and try again", status().url),
        },
        Some(TestOutcome::Delivered { route: Some((_, false)) }) => Reply::Error {
            message: format!("test alert {id} reached the relay ({}), but the relay has no Teams credentials ([bot] app_id, app_secret_file, tenant_id) and sends nothing", status().url),
        },
        Some(TestOutcome::Delivered { route: None }) => Reply::TestAlert {
            delivered_to: format!("the relay ({}); it did not say where it sends it", status().url),
            id,
        },
        Some(TestOutcome::Failed(why)) => Reply::Error {
            message: format!("test alert {id} did not reach the relay: {why}; it stays in the outbox and the agent keeps retrying"),
        },
        None => {
            let s = status();
            Reply::Error {
                message: format!(
                    "test alert {id} has not reached the relay within {} s (uplink {}; last error: {}). It stays in the outbox and the agent keeps retrying",
                    TEST_WAIT.as_secs(),
                    s.state,
                    s.last_error.as_deref().unwrap_or("none")
                ),
            }
        }
    }
}

/// Answers a history request from the store.
pub fn history(store: &Store, sensor: &str, since_ms: i64, limit: usize) -> Reply {
    match store.readings_since(sensor, since_ms, limit) {
        Ok(rows) => Reply::History {
            rows: rows.iter().map(HistoryRow::from_stored).collect(),
        },
        Err(e) => Reply::Error {
            message: e.to_string(),
        },
    }
}
