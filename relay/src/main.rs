//! The `edgetherm-relay` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edgetherm_relay::admin::{self, Reply, Request};
use edgetherm_relay::config::{self, BackendKind, Config};
use edgetherm_relay::manifest;
use edgetherm_relay::server;
use edgetherm_relay::store::Store;

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
    /// Run the HTTP(S) server: /v1/events, /api/messages, /healthz, /metrics.
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
    /// Write the Teams app package (manifest.json + icons, zipped) for the org's app catalog.
    Manifest {
        /// Where to write the zip
        #[arg(long, value_name = "PATH", default_value = manifest::DEFAULT_OUT)]
        out: PathBuf,
    },
    /// Copy a sled store into the PostgreSQL database of [store] (idempotent; prints counts).
    Migrate {
        /// The old relay's data_dir (or its store directory); stop that relay first
        #[arg(long = "from-sled", value_name = "DIR")]
        from_sled: PathBuf,
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
        Command::Serve => serve(&cfg),
        Command::Gateway(GatewayCmd::Add { id }) => gateway_add(&cfg, id),
        Command::Conversations { json } => conversations(&cfg, json),
        Command::Manifest { out } => write_manifest(&cfg, &out),
        Command::Migrate { from_sled } => {
            match edgetherm_relay::migrate::from_sled(&cfg, &from_sled) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
    }
}

/// With PostgreSQL, asks the database; with sled, the running server, or
/// opens the store when none runs.
fn ask(cfg: &Config, req: Request) -> Reply {
    if cfg.store.backend == BackendKind::Postgres {
        return match Store::from_config(&cfg.store, &cfg.server.data_dir) {
            Ok(store) => admin::handle(&store, req),
            Err(e) => Reply::Error(e.to_string()),
        };
    }
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
            if list.conversations.is_empty() {
                println!("no conversations yet: install the Teams app for a user or a team; it appears here once Teams tells the bot");
            }
            for c in &list.conversations {
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
            if !list.installs.is_empty() {
                println!("\n[graph] proactive installs (user, from, state):");
            }
            for r in &list.installs {
                println!(
                    "{:<36} {:<12} {}{} (checked {})",
                    r.user,
                    r.via.as_deref().unwrap_or("users"),
                    r.state,
                    r.conversation_id
                        .as_deref()
                        .map(|c| format!(" → {c}"))
                        .unwrap_or_default(),
                    r.updated_at
                );
            }
            ExitCode::SUCCESS
        }
        Reply::Error(e) => fail(&e),
        Reply::Token(_) => fail("unexpected answer"),
    }
}

fn write_manifest(cfg: &Config, out: &std::path::Path) -> ExitCode {
    match manifest::write(cfg, out) {
        Ok(path) => {
            let shown = std::path::absolute(&path).unwrap_or(path);
            println!("Teams app package written: {}", shown.display());
            println!("Upload it in the Teams admin center → Teams apps → Manage apps → Upload new app (or sideload it in Teams to test).");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("edgetherm-relay: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn serve(cfg: &Config) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    match server::serve(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}
