//! The command-line side of the control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Reply, Request};

/// Why the running agent could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// Nothing listens on the socket.
    #[error("no edgetherm agent is running with data_dir {data_dir} (no answer on {socket}); start it with `edgetherm run` or `systemctl start edgetherm`")]
    NotRunning {
        /// The data dir.
        data_dir: PathBuf,
        /// The socket path.
        socket: PathBuf,
    },
    /// The socket exists but we may not use it.
    #[error("permission denied on {0}: run as the agent's user or a member of its group (e.g. with sudo)")]
    Denied(PathBuf),
    /// The conversation failed.
    #[error("talking to the agent on {socket}: {source}")]
    Io {
        /// The socket path.
        socket: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The agent answered something unreadable.
    #[error(
        "the agent on {0} answered something this version cannot read (different versions?): {1}"
    )]
    BadReply(PathBuf, String),
}

/// Sends one request to the agent running with `data_dir` and waits for its reply.
pub fn ask(data_dir: &Path, req: &Request, timeout: Duration) -> Result<Reply, AskError> {
    let socket = super::socket_path(data_dir);
    let io = |source: std::io::Error| AskError::Io {
        socket: socket.clone(),
        source,
    };
    let mut stream = match UnixStream::connect(&socket) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(AskError::Denied(socket))
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(AskError::NotRunning {
                data_dir: data_dir.to_path_buf(),
                socket,
            })
        }
        Err(e) => return Err(io(e)),
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut body = serde_json::to_vec(req).expect("requests serialise");
    body.push(b'\n');
    stream.write_all(&body).map_err(io)?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).map_err(io)?;
    serde_json::from_str(&line).map_err(|e| AskError::BadReply(socket.clone(), e.to_string()))
}
