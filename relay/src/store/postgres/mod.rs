//! The fleet backend: one PostgreSQL database shared by every relay.
//!
//! The store interface is blocking (sled is, and most callers are plain
//! functions), so each call runs as a task on a small runtime of its own
//! and the caller waits for it; on a tokio worker the wait goes through
//! `block_in_place`, so the caller's runtime keeps serving meanwhile.
//! Every call is bounded by `[store] timeout`: a database that does not
//! answer turns into a 503, never a hung request.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::config::SslMode;

use super::model::Gateway;
use super::StoreError;
use crate::config::{StoreConfig, TlsMode};

mod import;
mod intake;
mod queue;
mod schema;
mod tls;

pub use schema::SCHEMA_VERSION;

/// How long a token lookup is remembered (gateways are added, never
/// changed, so a hit stays right; misses are never remembered).
const TOKEN_CACHE: Duration = Duration::from_secs(60);

/// The PostgreSQL backend; share it with an `Arc`.
pub struct PgBackend {
    pool: Pool,
    /// `host:port/db`, for messages.
    place: String,
    timeout: Duration,
    tokens: Mutex<HashMap<Vec<u8>, (Gateway, Instant)>>,
    /// (count, when counted in ms): `pending_len` is asked on every batch.
    pending: (AtomicI64, AtomicI64),
    /// When old sends and lapsed conversation leases were last pruned (ms).
    pruned_ms: AtomicI64,
}

/// What a database call can fail with, before it becomes a `StoreError`.
enum Fail {
    Timeout,
    Pool(String),
    Db(tokio_postgres::Error),
    Lost,
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Fail {
        Fail::Db(e)
    }
}

/// The runtime every database task runs on; never dropped (a runtime may
/// not be dropped inside another, which is where the last store handle
/// often goes).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("relay-store")
            .enable_all()
            .build()
            .expect("a tokio runtime for the store")
    })
}

impl PgBackend {
    /// Connects, applies pending schema migrations (refusing a newer
    /// schema), and returns the backend.
    pub fn open(cfg: &StoreConfig) -> Result<PgBackend, StoreError> {
        let url = cfg.url.as_deref().unwrap_or_default();
        let mut pg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("[store] url {url:?}: {e}")))?;
        if let Some(path) = &cfg.password_file {
            let password = std::fs::read_to_string(path).map_err(|e| {
                StoreError::Config(format!(
                    "cannot read [store] password_file {}: {e}",
                    path.display()
                ))
            })?;
            pg.password(password.trim_end_matches(['\r', '\n']));
        }
        let timeout = cfg.timeout();
        pg.connect_timeout(timeout);
        pg.application_name("edgetherm-relay");
        let place = place_of(&pg);
        let tls = cfg.tls.unwrap_or(if loopback(&pg) {
            TlsMode::Disable
        } else {
            TlsMode::VerifyFull
        });
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls {
            TlsMode::Disable => {
                pg.ssl_mode(SslMode::Disable);
                Manager::from_config(pg, tokio_postgres::NoTls, manager_config)
            }
            mode => {
                pg.ssl_mode(SslMode::Require);
                let connector = tls::connector(mode, cfg.ca_file.as_deref())?;
                Manager::from_config(pg, connector, manager_config)
            }
        };
        let pool = {
            // deadpool's builder needs a runtime context for its timeouts.
            let _guard = runtime().enter();
            Pool::builder(manager)
                .max_size(cfg.pool_size())
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(timeout))
                .create_timeout(Some(timeout))
                .recycle_timeout(Some(timeout))
                .build()
                .map_err(|e| StoreError::Config(format!("[store]: {e}")))?
        };
        let backend = PgBackend {
            pool,
            place,
            timeout,
            tokens: Mutex::default(),
            pending: (AtomicI64::new(0), AtomicI64::new(i64::MIN)),
            pruned_ms: AtomicI64::new(i64::MIN),
        };
        backend.migrate()?;
        Ok(backend)
    }

    /// Runs `f` with a pooled connection on the store runtime and waits
    /// for it, at most `[store] timeout`.
    fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Fail>> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let timeout = self.timeout;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime().spawn(async move {
            let work = async {
                let client = pool.get().await.map_err(|e| Fail::Pool(pool_error(&e)))?;
                f(client).await
            };
            let out = match tokio::time::timeout(timeout, work).await {
                Ok(r) => r,
                Err(_) => Err(Fail::Timeout),
            };
            let _ = tx.send(out);
        });
        let wait = || rx.recv().unwrap_or(Err(Fail::Lost));
        let out = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        out.map_err(|f| self.error(f))
    }

    fn error(&self, f: Fail) -> StoreError {
        let place = self.place.clone();
        match f {
            Fail::Timeout => StoreError::Unavailable {
                place,
                message: format!("no answer within {:?} ([store] timeout)", self.timeout),
            },
            Fail::Pool(message) => StoreError::Unavailable { place, message },
            Fail::Lost => StoreError::Failed {
                place,
                message: "the database task stopped".into(),
            },
            Fail::Db(e) if e.is_closed() || e.code().is_none() => StoreError::Unavailable {
                place,
                message: with_causes(&e),
            },
            Fail::Db(e) => StoreError::Failed {
                place,
                message: match e.as_db_error() {
                    Some(d) => format!("{}: {}", d.code().code(), d.message()),
                    None => e.to_string(),
                },
            },
        }
    }
}

/// What went wrong getting a connection, down to the cause (a refused
/// certificate is several sources deep).
fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(pg) => with_causes(pg),
        deadpool_postgres::PoolError::Timeout(_) => "no connection within [store] timeout".into(),
        other => other.to_string(),
    }
}

/// An error and its sources, joined by ": ".
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
        source = s.source();
    }
    out
}

/// `host:port/db` of a config, for messages (never the password).
fn place_of(pg: &tokio_postgres::Config) -> String {
    let host = match pg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{host}:{port}/{}",
        pg.get_dbname().unwrap_or_default()
    )
}

/// True when every host is loopback or a Unix socket.
fn loopback(pg: &tokio_postgres::Config) -> bool {
    pg.get_hosts().iter().all(|h| match h {
        tokio_postgres::config::Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        tokio_postgres::config::Host::Unix(_) => true,
    })
}

/// Sequence numbers are bigserial: never negative.
fn seq(v: i64) -> u64 {
    v.max(0) as u64
}

impl PgBackend {
    fn pending_cached(&self) -> Option<usize> {
        let at = self.pending.1.load(Ordering::Relaxed);
        let now = crate::clock::now_ms();
        (now.saturating_sub(at) < 1_000)
            .then(|| self.pending.0.load(Ordering::Relaxed).max(0) as usize)
    }

    fn forget_pending(&self) {
        self.pending.1.store(i64::MIN, Ordering::Relaxed);
    }

    fn remember_pending(&self, n: i64) {
        self.pending.0.store(n, Ordering::Relaxed);
        self.pending
            .1
            .store(crate::clock::now_ms(), Ordering::Relaxed);
    }
}
