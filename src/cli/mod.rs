//! Command-line interface: parsing, logging set-up and dispatch.

mod check;
mod query;
mod scan;
mod trend;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, LoadError};

/// Edge temperature alerting for Raspberry-Pi-class gateways.
#[derive(Debug, Parser)]
#[command(name = "edgetherm", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Config file [default: $EDGETHERM_CONFIG, else /etc/edgetherm/edgetherm.toml]
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent: poll sensors, store readings, evaluate rules, emit alerts (the service).
    #[command(
        long_about = "Run the agent: poll every sensor on its own interval, keep each reading in the local \
store (data_dir), evaluate the rules, and emit alert events — logged to stderr (journald under systemd), one \
structured line each. Stops cleanly on SIGTERM or Ctrl-C; under systemd it reports readiness and feeds the watchdog."
    )]
    Run,
    /// Validate a config file and print a summary (exit 0 valid, 2 invalid).
    #[command(
        long_about = "Validate a config file and print a summary of what the agent would do. Every problem is \
reported (not just the first) as file:line:column: key: what was expected. The files the config names \
(token_file, password_file, ca_file, client_cert_file, client_key_file) are opened as the user running the \
check and must hold what they should; `run` checks the same before it starts. Exit status: 0 valid, 2 invalid."
    )]
    CheckConfig {
        /// Config file to check (overrides --config)
        path: Option<PathBuf>,
    },
    /// Find the temperature sensors on this machine and print a ready [[sensor]] snippet.
    #[command(
        long_about = "Find the temperature sensors on this machine — 1-Wire devices (w1_therm), hwmon inputs \
and thermal zones under /sys, with --mqtt the topics on the config's broker that carry temperatures, and with --i2c the supported I2C chips at their usual addresses (identified by \
read-only registers) — with their current values, then print [[sensor]] blocks ready to paste into the config."
    )]
    Scan {
        /// Where /sys is found (for testing against a copy)
        #[arg(long, value_name = "DIR", default_value = "/")]
        sysfs_root: PathBuf,
        /// Also probe this I2C bus at the supported chips' addresses (read-only), e.g. /dev/i2c-1
        #[arg(long, value_name = "DEV")]
        i2c: Vec<PathBuf>,
        /// Also listen on the config's [mqtt] broker and list topics that carry temperatures
        #[arg(long)]
        mqtt: bool,
        /// How long to listen with --mqtt
        #[arg(long, default_value = "5s", value_name = "DURATION")]
        listen: String,
    },
    /// Ask the running agent: last values and hour, alert states, outbox depth.
    #[command(
        long_about = "Ask the running agent (over the control socket in its data_dir) for each sensor's last \
value and age, its last hour as a sparkline (▁ its lowest to █ its highest reading of the hour), each alert's \
state, the outbox depth and the store's size. Exits 1 with a clear message if no agent runs."
    )]
    Status {
        /// Print JSON instead of a table (`last_hour`: up to 36 values, °C, oldest first)
        #[arg(long)]
        json: bool,
    },
    /// Show a sensor's stored readings, with a sparkline or a chart.
    #[command(
        long_about = "Show the readings of one sensor from the local store, oldest first, under one line with \
a sparkline and their lowest, highest and mean value (faults are counted, not drawn). With --plot, a chart \
sized to the terminal instead of the rows. Works whether or not the agent is running (asks it if it is, reads \
the store directly if not)."
    )]
    History {
        /// Sensor id (as in the config)
        sensor: String,
        /// How far back, e.g. 30m, 1h, 7d
        #[arg(long, default_value = "1h", value_name = "DURATION")]
        since: String,
        /// At most this many readings
        #[arg(long, default_value_t = 10_000)]
        limit: usize,
        /// Print JSON lines instead of a table (the readings only)
        #[arg(long)]
        json: bool,
        /// Draw a chart (time across, °C up, faults marked × on the time axis) instead of listing the rows
        #[arg(long, conflicts_with = "json")]
        plot: bool,
    },
    /// Send a clearly-marked test alert through the whole chain.
    #[command(
        long_about = "Ask the running agent to emit a clearly-marked test event through the same path as real \
alerts (store, outbox, log, and the relay once configured), and report where it went."
    )]
    TestAlert,
}

/// Runs the parsed command line and returns the exit status.
pub fn main(cli: Cli) -> ExitCode {
    if !matches!(cli.command, Command::Run) {
        // One-shot commands piped into `head` should end quietly, not panic on
        // EPIPE. The service keeps Rust's default (SIGPIPE ignored) so a closed
        // log pipe can never kill it.
        // SAFETY: called before any thread exists; resets one signal disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli.command {
        Command::CheckConfig { path } => {
            let path = config::resolve_path(path.as_deref().or(cli.config.as_deref()));
            check::check_config(&path)
        }
        Command::Scan {
            sysfs_root,
            i2c,
            mqtt,
            listen,
        } => {
            let broker = if mqtt {
                let Some(cfg) = load(cli.config) else {
                    return ExitCode::from(2);
                };
                let Some(m) = cfg.mqtt else {
                    eprintln!(
                        "edgetherm: scan --mqtt needs an [mqtt] section in {}",
                        cfg.path.display()
                    );
                    return ExitCode::from(2);
                };
                let Some(d) = crate::config::units::parse_duration(&listen) else {
                    eprintln!(
                        "edgetherm: --listen {listen:?}: expected a duration like \"5s\" or \"1m\""
                    );
                    return ExitCode::from(2);
                };
                Some((m, d))
            } else {
                None
            };
            scan::scan(&sysfs_root, &i2c, broker)
        }
        Command::Run => {
            // The files the config names are checked here, before anything
            // starts: a missing ca_file is a config error (exit 2, with its
            // line), not a failure half-way through start-up.
            let path = config::resolve_path(cli.config.as_deref());
            let Some(cfg) = Config::load_with_files(&path)
                .map_err(|e| report_load_error(&path, &e))
                .ok()
            else {
                return ExitCode::from(2);
            };
            init_logging(cfg.agent.log_level.as_deref());
            run(cfg)
        }
        Command::Status { json } => with_config(cli.config, |cfg| query::status(cfg, json)),
        Command::History {
            sensor,
            since,
            limit,
            json,
            plot,
        } => {
            let show = match (json, plot) {
                (true, _) => query::Show::Json,
                (_, true) => query::Show::Plot,
                _ => query::Show::Rows,
            };
            with_config(cli.config, |cfg| {
                query::history(cfg, &sensor, &since, limit, show)
            })
        }
        Command::TestAlert => with_config(cli.config, query::test_alert),
    }
}

fn with_config(path: Option<PathBuf>, f: impl FnOnce(&Config) -> ExitCode) -> ExitCode {
    match load(path) {
        Some(cfg) => f(&cfg),
        None => ExitCode::from(2),
    }
}

/// Loads the config, printing every error on failure.
fn load(flag: Option<PathBuf>) -> Option<Config> {
    let path = config::resolve_path(flag.as_deref());
    Config::load(&path)
        .map_err(|e| report_load_error(&path, &e))
        .ok()
}

/// Prints why a config could not be loaded: every error with its location.
fn report_load_error(path: &std::path::Path, err: &LoadError) {
    match err {
        LoadError::Invalid(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            let n = errors.len();
            eprintln!(
                "{}: invalid ({n} error{})",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
        }
        other => {
            eprintln!("edgetherm: {other}");
            eprintln!("  (give the config with --config PATH or EDGETHERM_CONFIG; `edgetherm check-config PATH` validates one)");
        }
    }
}

fn init_logging(level: Option<&str>) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    // `Targets` takes RUST_LOG's common form (`info`, `edgetherm=debug,rumqttc=warn`)
    // without EnvFilter's regex engine, which is a good part of the binary
    // (and so of resident memory on a Pi). Span and field directives are not
    // supported: such a RUST_LOG is reported and the configured level used.
    let configured = level.unwrap_or("info");
    let mut bad_env = None;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => spec.parse::<Targets>().unwrap_or_else(|e| {
            bad_env = Some(format!("RUST_LOG={spec:?} is not understood ({e}); expected e.g. \"info\" or \"edgetherm=debug,rumqttc=warn\""));
            configured.parse().unwrap_or_default()
        }),
        _ => configured
            .parse()
            .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO)),
    };
    // Under systemd, journald adds its own timestamps.
    let under_systemd =
        std::env::var_os("INVOCATION_ID").is_some() || std::env::var_os("JOURNAL_STREAM").is_some();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let registry = tracing_subscriber::registry();
    if under_systemd {
        registry
            .with(layer.without_time().with_filter(filter))
            .init();
    } else {
        registry.with(layer.with_filter(filter)).init();
    }
    if let Some(why) = bad_env {
        tracing::warn!("{why}; using log level {configured}");
    }
}

fn run(cfg: Config) -> ExitCode {
    crate::run::malloc::tune();
    // One thread runs everything async (MQTT, the core, the uplink, the
    // control socket): handing a reading from one task to another is then a
    // plain call, not a wake-up of another thread. The store's commits and
    // flushes block that thread on purpose — readings wait in the socket and
    // the MQTT task's hold meanwhile, and are then taken as one batch.
    // Sensor reads and history queries go to the blocking pool.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(16)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edgetherm: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(crate::run::run(cfg));
    // A hung sensor read must not keep the process alive at shutdown.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("edgetherm: {e}");
            ExitCode::FAILURE
        }
    }
}
