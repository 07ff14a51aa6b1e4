//! The local admin socket (`data_dir/admin.sock`, never on the network): lets
//! `gateway add` work while `serve` holds the store (sled locks it).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::store::Store;

/// A request on the admin socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Create a gateway and return its token.
    GatewayAdd {
        /// The gateway id.
        id: String,
    },
    /// List conversation references.
    Conversations,
}

/// The answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The new token.
    Token(String),
    /// Every conversation reference, and the Graph install rows.
    Conversations(Listing),
    /// What went wrong.
    Error(String),
}

/// What `edgetherm-relay conversations` lists.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Listing {
    /// Every conversation reference.
    pub conversations: Vec<crate::conversations::ConversationRef>,
    /// One row per user of `[graph]` (proactive installation), if any.
    #[serde(default)]
    pub installs: Vec<crate::graph::report::InstallRow>,
}

/// The socket path in a data dir.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// Answers one request against the store.
pub fn handle(store: &Store, req: Request) -> Reply {
    match req {
        Request::GatewayAdd { id } => match crate::valid_gateway_id(&id) {
            Err(e) => Reply::Error(e),
            Ok(()) => match store.add_gateway(&id) {
                Ok(t) => {
                    tracing::info!(gateway = %id, "gateway added");
                    Reply::Token(t)
                }
                Err(e) => Reply::Error(e.to_string()),
            },
        },
        Request::Conversations => {
            match (store.conversations(), crate::graph::report::rows(store)) {
                (Ok(conversations), Ok(installs)) => Reply::Conversations(Listing {
                    conversations,
                    installs,
                }),
                (Err(e), _) | (_, Err(e)) => Reply::Error(e.to_string()),
            }
        }
    }
}

/// Serves the admin socket until the task is dropped.
pub async fn serve(data_dir: &Path, store: Store) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let path = socket_path(data_dir);
    if path.exists() {
        if tokio::net::UnixStream::connect(&path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another edgetherm-relay serve is running with this data_dir",
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = tokio::net::UnixListener::bind(&path)?;
    // Tokens are minted here: owner only.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut line = String::new();
                let mut reader =
                    tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(r, 64 * 1024));
                if reader.read_line(&mut line).await.is_err() {
                    return;
                }
                let reply = match serde_json::from_str::<Request>(line.trim()) {
                    Ok(req) => tokio::task::spawn_blocking(move || handle(&store, req))
                        .await
                        .unwrap_or(Reply::Error("internal error".into())),
                    Err(e) => Reply::Error(format!("bad admin request: {e}")),
                };
                let mut out = serde_json::to_vec(&reply).expect("serialises");
                out.push(b'\n');
                let _ = w.write_all(&out).await;
            });
        }
    }))
}

/// Asks a running server; `Ok(None)` when none is running.
pub fn ask(data_dir: &Path, req: &Request) -> std::io::Result<Option<Reply>> {
    let path = socket_path(data_dir);
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let mut body = serde_json::to_vec(req).expect("serialises");
    body.push(b'\n');
    stream.write_all(&body)?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    serde_json::from_str(&line)
        .map(Some)
        .map_err(std::io::Error::other)
}
