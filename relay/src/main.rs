//! The `edgetherm-relay` command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use edgetherm_relay::admin::{self, Reply, Request};
use edgetherm_relay::api::{self, AppState};
use edgetherm_relay::bot::auth::BotAuth;
use edgetherm_relay::bot::messages::Bot;
use edgetherm_relay::config::{self, Config};
use edgetherm_relay::queue::Queue;
use edgetherm_relay::sender::Sender;
use edgetherm_relay::store::Store;
use edgetherm_relay::teams::connector::Connector;
use edgetherm_relay::teams::token::TokenSource;

/// Cloud relay for edgetherm: gateway events in, Microsoft Teams messages out.
#[derive(Debug, Parser)]
#[command(name = "edgetherm-relay", version, about)]
struct Cli {
    /// Config file [default: $EDGETHERM_RELAY_CONFIG, else /etc/edgetherm-relay/relay.toml]
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server: /v1/events, /healthz, /metrics.
    Serve,
    /// Manage gateways.
    #[command(subcommand)]
    Gateway(GatewayCmd),
    /// List stored Teams conversation references and their state (active, blocked, ...).
    Conversations {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GatewayCmd {
    /// Create a gateway; its token is printed once, alone on the last line of stdout.
    Add {
        /// The gateway id (the agent's [agent] gateway_id)
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = config::resolve_path(cli.config.as_deref());
    let cfg = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("edgetherm-relay: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Serve => serve(cfg),
        Command::Gateway(GatewayCmd::Add { id }) => gateway_add(&cfg, id),
        Command::Conversations { json } => conversations(&cfg, json),
    }
}

/// Asks the running server, or opens the store when none runs.
fn ask(cfg: &Config, req: Request) -> Reply {
    match admin::ask(&cfg.server.data_dir, &req) {
        Ok(Some(r)) => r,
        Ok(None) => match Store::open(&cfg.server.data_dir) {
            Ok(store) => admin::handle(&store, req),
            Err(e) => Reply::Error(e.to_string()),
        },
        Err(e) => Reply::Error(format!(
            "admin socket {}: {e}",
            admin::socket_path(&cfg.server.data_dir).display()
        )),
    }
}

fn fail(e: &str) -> ExitCode {
    eprintln!("edgetherm-relay: {e}");
    ExitCode::FAILURE
}

fn gateway_add(cfg: &Config, id: String) -> ExitCode {
    match ask(cfg, Request::GatewayAdd { id }) {
        Reply::Token(t) => {
            println!("Gateway created. Put this token in the agent's [relay] token_file; it is not shown again:");
            println!("{t}");
            ExitCode::SUCCESS
        }
        Reply::Error(e) => fail(&e),
        Reply::Conversations(_) => fail("unexpected answer"),
    }
}

fn conversations(cfg: &Config, json: bool) -> ExitCode {
    match ask(cfg, Request::Conversations) {
        Reply::Conversations(list) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&list).expect("serialises")
            );
            ExitCode::SUCCESS
        }
        Reply::Conversations(list) => {
            if list.is_empty() {
                println!("no conversations yet: install the Teams app for a user or a team; it appears here once Teams tells the bot");
            }
            for c in &list {
                println!(
                    "{:<14} {:<10} {:<44} {} {}",
                    c.state.as_str(),
                    c.conversation_type,
                    c.who(),
                    c.conversation_id,
                    c.state_reason
                        .as_deref()
                        .map(|r| format!("({r})"))
                        .unwrap_or_default()
                );
            }
            ExitCode::SUCCESS
        }
        Reply::Error(e) => fail(&e),
        Reply::Token(_) => fail("unexpected answer"),
    }
}

fn serve(cfg: Config) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let result: Result<(), String> = rt.block_on(async {
        let store = Store::open(&cfg.server.data_dir).map_err(|e| e.to_string())?;
        let metrics: Arc<edgetherm_relay::metrics::Metrics> = Arc::new(Default::default());
        let admin_task = admin::serve(&cfg.server.data_dir, store.clone()).await.map_err(|e| format!("admin socket: {e}"))?;
        if cfg.server.tls_cert_file.is_some() {
            tracing::warn!("tls_cert_file is set but this version does not terminate TLS itself: put it behind a reverse proxy for now");
        }
        let bot = match &cfg.bot {
            None => None,
            Some(b) if b.allow_unauthenticated => {
                tracing::warn!("[bot] allow_unauthenticated = true: /api/messages ACCEPTS UNAUTHENTICATED REQUESTS. Local development only: anyone who can reach this port can pose as Teams.");
                Some(Arc::new(Bot { auth: None }))
            }
            Some(b) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let http = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))?;
                Some(Arc::new(Bot { auth: Some(BotAuth::new(http, b.openid_metadata_url(), b.app_id.clone())) }))
            }
        };
        let sender = match &cfg.bot {
            Some(b) if b.app_secret_file.is_some() && b.tenant_id.is_some() => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let secret_path = b.app_secret_file.clone().expect("checked");
                let secret = std::fs::read_to_string(&secret_path)
                    .map_err(|e| format!("cannot read [bot] app_secret_file {}: {e}", secret_path.display()))?
                    .trim()
                    .to_string();
                let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(20)).build().map_err(|e| format!("HTTP client: {e}"))?;
                let token_url = format!("{}/{}/oauth2/v2.0/token", b.login_url().trim_end_matches('/'), b.tenant_id.as_deref().expect("checked"));
                let tokens = Arc::new(TokenSource::new(http.clone(), token_url, b.app_id.clone(), secret, "https://api.botframework.com/.default".into()));
                let queue = Queue::open(&store).map_err(|e| e.to_string())?;
                Some(Sender::new(queue, store.clone(), Connector::new(http, tokens), cfg.routing.clone(), metrics.clone()))
            }
            _ => {
                tracing::warn!("no [bot] app_id / app_secret_file / tenant_id: accepted events are kept but nothing is sent to Teams");
                None
            }
        };
        let sender_task = sender.map(|s| tokio::spawn(s.run(Arc::new(tokio::sync::Notify::new()))));
        let state = AppState {
            store,
            metrics: metrics.clone(),
            max_body: cfg.server.max_body_bytes,
            max_pending: cfg.server.max_pending,
            bot,
        };
        let listener = tokio::net::TcpListener::bind(cfg.server.listen).await.map_err(|e| format!("cannot listen on {}: {e}", cfg.server.listen))?;
        tracing::info!(listen = %cfg.server.listen, "edgetherm-relay serving");
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        };
        let served = axum::serve(listener, api::router(state)).with_graceful_shutdown(shutdown).await;
        admin_task.abort();
        if let Some(t) = sender_task {
            t.abort();
        }
        let _ = std::fs::remove_file(admin::socket_path(&cfg.server.data_dir));
        served.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgetherm-relay: {e}");
            ExitCode::FAILURE
        }
    }
}
