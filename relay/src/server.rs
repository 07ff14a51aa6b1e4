//! `edgetherm-relay serve`: the admin socket, the Teams sender, the Graph
//! installer (with `[graph]`), and the HTTP or HTTPS server (`/v1/events`,
//! `/api/messages`, `/healthz`, `/metrics`) until SIGTERM or ctrl-c; at exit
//! the admin socket is removed.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::bot::auth::BotAuth;
use crate::bot::messages::{Bot, BotHandle};
use crate::commit::Committer;
use crate::config::{self, BackendKind, Config};
use crate::connections;
use crate::fleet::Member;
use crate::graph::Installer;
use crate::limits::Guarded;
use crate::liveness::Watch;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::sender::Sender;
use crate::store::Store;
use crate::teams::connector::Connector;
use crate::teams::token::TokenSource;

/// Runs the server on a new tokio runtime until SIGTERM or ctrl-c.
pub fn serve(cfg: &Config) -> Result<(), String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(run(cfg, shutdown_signal()))
}

/// Runs the server until `shutdown` completes, then lets open requests
/// finish.
pub async fn run<F>(cfg: &Config, shutdown: F) -> Result<(), String>
where
    F: Future<Output = ()> + Send + 'static,
{
    // Idempotent; reqwest and rustls need a process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Before anything is opened: a bad certificate fails fast.
    let tls = tls_config(&cfg.server)?;
    let store = open_store(cfg).await?;
    let member = Member::new(cfg.store.lease_timeout());
    if cfg.store.backend == BackendKind::Postgres {
        tracing::info!(instance = %member.instance, "sharing the PostgreSQL store with any other relays on it");
    }
    let metrics = Arc::new(Metrics::default());
    let mut running = Running {
        data_dir: cfg.server.data_dir.clone(),
        tasks: Vec::new(),
    };
    if cfg.store.backend == BackendKind::Sled {
        // sled is locked by this process: admin commands come through it.
        // With PostgreSQL they open the database themselves.
        let admin_task = crate::admin::serve(&cfg.server.data_dir, store.clone())
            .await
            .map_err(|e| format!("admin socket: {e}"))?;
        running.tasks.push(admin_task);
    }
    let bot = build_bot(cfg)?;
    let sender = build_sender(cfg, &store, &metrics)?.map(|s| s.in_fleet(member.clone()));
    let teams = sender.is_some();
    if let Some(sender) = sender {
        let wake = Arc::new(tokio::sync::Notify::new());
        running.tasks.push(tokio::spawn(sender.run(wake)));
    }
    let installer = build_installer(cfg, &store)?
        .map(|(installer, every)| (installer.in_fleet(member.clone()), every));
    let watch = Watch::new(store.clone(), cfg.gateways.clone()).in_fleet(member.clone());
    let fleet = (store.clone(), member);
    running.tasks.push(tokio::spawn(watch.run()));
    if let Some(keep) = cfg.store.remember_events() {
        let forgetter = crate::idempotency::Forgetter::new(store.clone(), keep);
        running.tasks.push(tokio::spawn(forgetter.run()));
    }
    let state = AppState {
        commit: Committer::start(store.clone())
            .map_err(|e| format!("cannot start the store writer thread: {e}"))?,
        store,
        metrics,
        max_body: cfg.server.max_body_bytes,
        max_pending: cfg.server.max_pending,
        bot,
        routing: cfg.routing.clone(),
        teams,
    };
    let listener = bind(cfg.server.listen).await?;
    // Once /api/messages can take the conversationUpdate an install causes.
    if let Some((installer, every)) = installer {
        running.tasks.push(tokio::spawn(installer.run(every)));
    }
    let router = api::router(state);
    let listen = cfg.server.listen;
    let cap = crate::limits::connection_cap(cfg.server.max_connections);
    let idle = cfg.server.idle_timeout.0.unwrap_or(Duration::from_secs(60));
    let header_timeout = cfg
        .server
        .header_timeout
        .0
        .unwrap_or(Duration::from_secs(30));
    match tls {
        None => {
            tracing::info!(%listen, max_connections = cap, "edgetherm-relay serving (plain HTTP)");
            let listener = Guarded::new(listener, cap, idle);
            connections::serve(listener, router, header_timeout, shutdown).await;
        }
        Some(tls) => {
            tracing::info!(%listen, max_connections = cap, "edgetherm-relay serving (HTTPS)");
            let listener = crate::tls::TlsListener::new(listener, tls);
            let listener = Guarded::new(listener, cap, idle);
            connections::serve(listener, router, header_timeout, shutdown).await;
        }
    }
    drop(running);
    // After the tasks: a sender still running could take a lease back.
    let (store, member) = fleet;
    let _ = tokio::task::spawn_blocking(move || member.release(&store)).await;
    Ok(())
}

/// Opens `[store]` off the runtime's workers (connecting to PostgreSQL
/// and migrating its schema can take a while).
async fn open_store(cfg: &Config) -> Result<Store, String> {
    let (store_cfg, data_dir) = (cfg.store.clone(), cfg.server.data_dir.clone());
    tokio::task::spawn_blocking(move || Store::from_config(&store_cfg, &data_dir))
        .await
        .map_err(|e| format!("opening the store: {e}"))?
        .map_err(|e| e.to_string())
}

/// What runs beside the HTTP server; stopped, and the admin socket removed,
/// when `run` returns, on success and on error alike.
struct Running {
    data_dir: PathBuf,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = std::fs::remove_file(crate::admin::socket_path(&self.data_dir));
    }
}

/// The rustls config when `[server] tls_cert_file` and `tls_key_file` are set.
fn tls_config(server: &config::Server) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    match (&server.tls_cert_file, &server.tls_key_file) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => crate::tls::server_config(cert, key).map(Some),
        // Config::parse rejects these; a Config built by hand might not.
        (Some(_), None) => Err("[server] tls_cert_file is set but tls_key_file is missing".into()),
        (None, Some(_)) => Err("[server] tls_key_file is set but tls_cert_file is missing".into()),
    }
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// The inbound side of `/api/messages`: `None` without `[bot]`.
fn build_bot(cfg: &Config) -> Result<Option<BotHandle>, String> {
    let Some(b) = &cfg.bot else {
        return Ok(None);
    };
    if b.allow_unauthenticated {
        tracing::warn!(
            "[bot] allow_unauthenticated = true: /api/messages ACCEPTS UNAUTHENTICATED \
             REQUESTS. Local development only: anyone who can reach this port can pose as Teams."
        );
        return Ok(Some(Arc::new(Bot { auth: None })));
    }
    let http = http_client(Duration::from_secs(10))?;
    let auth = BotAuth::from_config(http, b);
    Ok(Some(Arc::new(Bot { auth: Some(auth) })))
}

/// The Teams sender: `None` unless `[bot]` has `app_secret_file` and `tenant_id`.
fn build_sender(
    cfg: &Config,
    store: &Store,
    metrics: &Arc<Metrics>,
) -> Result<Option<Sender>, String> {
    let (b, secret_path, tenant) = match &cfg.bot {
        Some(b) => match (&b.app_secret_file, &b.tenant_id) {
            (Some(s), Some(t)) => (b, s, t),
            _ => return Ok(no_sender()),
        },
        None => return Ok(no_sender()),
    };
    let secret = read_secret(secret_path)?;
    let http = http_client(Duration::from_secs(20))?;
    let login = b.login_url();
    let token_url = format!("{}/{tenant}/oauth2/v2.0/token", login.trim_end_matches('/'));
    let tokens = TokenSource::new(
        http.clone(),
        token_url,
        b.app_id.clone(),
        secret,
        b.connector_scope(),
    );
    let queue = Queue::open(store);
    let connector = Connector::new(http, Arc::new(tokens));
    let routing = cfg.routing.clone();
    Ok(Some(Sender::new(
        queue,
        store.clone(),
        connector,
        routing,
        metrics.clone(),
    )))
}

/// Proactive installation (`[graph]`), with its own Graph token source and
/// a Bot Connector client for conversations Teams did not announce; `None`
/// without `[graph]` or without the bot's credentials. Returns the installer
/// and how often it runs again.
fn build_installer(
    cfg: &Config,
    store: &Store,
) -> Result<Option<(Installer, Option<Duration>)>, String> {
    let (Some(g), Some(b)) = (&cfg.graph, &cfg.bot) else {
        return Ok(None);
    };
    let (Some(secret_path), Some(tenant), Some(settings)) = (
        &b.app_secret_file,
        &b.tenant_id,
        crate::graph::Settings::from_config(cfg),
    ) else {
        tracing::warn!(
            "[graph] is set but [bot] has no app_secret_file / tenant_id: nobody is installed"
        );
        return Ok(None);
    };
    let secret = read_secret(secret_path)?;
    let http = http_client(Duration::from_secs(30))?;
    let token_url = format!(
        "{}/{tenant}/oauth2/v2.0/token",
        b.login_url().trim_end_matches('/')
    );
    let graph_url = b.graph_url();
    let graph_tokens = TokenSource::new(
        http.clone(),
        token_url.clone(),
        b.app_id.clone(),
        secret.clone(),
        b.graph_scope(),
    );
    let graph = crate::graph::client::GraphClient::new(
        http.clone(),
        Arc::new(graph_tokens),
        &graph_url,
        g.rate.0,
    );
    let bot_tokens = TokenSource::new(
        http.clone(),
        token_url,
        b.app_id.clone(),
        secret,
        b.connector_scope(),
    );
    let connector = Connector::new(http, Arc::new(bot_tokens));
    let installer = Installer::new(settings, graph, connector, store.clone());
    tracing::info!(
        users = g.users.len(),
        groups = g.groups.len(),
        "[graph]: checking the Teams app installation of the configured users"
    );
    Ok(Some((installer, g.recheck.0)))
}

fn no_sender() -> Option<Sender> {
    tracing::warn!(
        "no [bot] app_id / app_secret_file / tenant_id: \
         accepted events are kept but nothing is sent to Teams"
    );
    None
}

fn read_secret(path: &Path) -> Result<String, String> {
    let secret = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read [bot] app_secret_file {}: {e}", path.display()))?;
    Ok(secret.trim().to_string())
}

async fn bind(listen: SocketAddr) -> Result<TcpListener, String> {
    crate::limits::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))
}

/// Completes on SIGTERM (systemd's stop) or ctrl-c.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
        }
        Err(e) => {
            tracing::error!("cannot handle SIGTERM ({e}): stop with ctrl-c / SIGINT");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
