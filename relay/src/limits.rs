//! Connection limits around any listener (plain TCP or TLS): a cap on open
//! connections below the descriptor limit, an idle timeout, and a listen
//! backlog sized for a fleet reconnecting at once.
//!
//! Without them, 1,100 idle connections (RLIMIT_NOFILE 1024, as under
//! systemd) made every `accept` fail with EMFILE and locked every gateway
//! out, since the relay never closed an idle connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Pending connections the kernel may queue (Linux caps it at somaxconn).
pub const BACKLOG: u32 = 4096;
/// Descriptors kept free for the store, outgoing HTTPS and logs.
const RESERVED_FDS: u64 = 64;

/// The answer to a connection beyond the cap.
fn busy() -> Vec<u8> {
    let body = r#"{"error":"the relay has too many open connections; retry later"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Binds `addr` with a listen backlog of `BACKLOG`.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The most connections to hold open: `wanted`, but never closer than
/// `RESERVED_FDS` to the process's descriptor limit.
pub fn connection_cap(wanted: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    // rlim_t is 32 bits on armv7: compare and subtract as u64.
    #[allow(clippy::unnecessary_cast)]
    let (cur, infinity) = (lim.rlim_cur as u64, libc::RLIM_INFINITY as u64);
    let by_fds = if ok && cur != infinity {
        cur.saturating_sub(RESERVED_FDS).max(1) as usize
    } else {
        usize::MAX
    };
    wanted.min(by_fds).max(1)
}

/// A listener that holds at most `cap` connections open (one more is
/// answered 503 with `Retry-After` and closed) and closes a connection that
/// has moved no byte for `idle`.
pub struct Guarded<L> {
    inner: L,
    permits: Arc<Semaphore>,
    cap: usize,
    idle: Duration,
    refused: u64,
}

impl<L> Guarded<L> {
    /// Wraps `inner`.
    pub fn new(inner: L, cap: usize, idle: Duration) -> Guarded<L> {
        Guarded {
            inner,
            permits: Arc::new(Semaphore::new(cap)),
            cap,
            idle,
            refused: 0,
        }
    }
}

impl<L> axum::serve::Listener for Guarded<L>
where
    L: axum::serve::Listener,
{
    type Io = IdleIo<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = self.inner.accept().await;
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => return (IdleIo::new(io, permit, self.idle), addr),
                Err(_) => {
                    self.refused += 1;
                    // Logged as the count passes each power of two, not per connection.
                    if self.refused.is_power_of_two() {
                        tracing::warn!(
                            cap = self.cap,
                            refused = self.refused,
                            "too many open connections: answering 503 (raise LimitNOFILE and [server] max_connections if this is load, not an attack)"
                        );
                    }
                    let mut io = io;
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            let _ = io.write_all(&busy()).await;
                            let _ = io.shutdown().await;
                        })
                        .await;
                    });
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that fails its next read or write once it has moved no
/// byte for the idle timeout; it frees its place under the cap when dropped.
pub struct IdleIo<T> {
    inner: T,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl<T> IdleIo<T> {
    fn new(inner: T, permit: OwnedSemaphorePermit, idle: Duration) -> IdleIo<T> {
        IdleIo {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            _permit: permit,
        }
    }

    fn moved(&mut self) {
        let next = Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle for too long")
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
