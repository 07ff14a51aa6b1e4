//! Serves the router over a listener, one hyper HTTP/1 connection per
//! accepted stream, with a header-read timeout.
//!
//! `axum::serve` gives hyper no timer, so hyper's header-read timeout never
//! runs: a client that trickles one header byte every few seconds keeps its
//! connection (and a slot under the connection cap) forever, because the
//! idle timeout only sees that bytes still move.

use std::future::Future;
use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

/// How long a stopping server waits for requests in progress.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and lets requests in progress finish (at most `DRAIN`).
///
/// `header_timeout` bounds the wait for a complete request head, counted
/// from when the connection is ready for one: a new connection, or a
/// keep-alive connection after its last response.
pub async fn serve<L, F>(mut listener: L, router: Router, header_timeout: Duration, shutdown: F)
where
    L: Listener,
    F: Future<Output = ()>,
{
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (io, _addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let conn = builder.serve_connection(TokioIo::new(io), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // Timeouts, resets and malformed requests: the client's doing.
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in progress {} s after the stop; closing them",
            DRAIN.as_secs()
        );
    }
}
