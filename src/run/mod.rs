//! `edgetherm run`: sources → readings → rules → events → outbox → log and relay uplink.

mod clock_report;
mod core;
pub mod malloc;
mod poller;
mod store_report;
pub mod trend;

use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::{Config, SensorSource};
use crate::control;
use crate::reading::MonoClock;
use crate::store::{Opened, Store, StoreError, StoreOptions};

pub use self::core::Core;

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store could not be opened or recovered.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The relay uplink could not be set up (e.g. a bad `ca_file`).
    #[error("{0}")]
    Uplink(#[from] crate::uplink::ClientError),
    /// Alert events were held in memory (the store refused them) at shutdown.
    #[error("{0} alert event(s) could not be saved to the store before stopping and are lost (each is named in the log above)")]
    Held(usize),
    /// The control socket could not be set up.
    #[error("control socket {path}: {source}")]
    Control {
        /// The socket path.
        path: std::path::PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// Runs the agent until SIGTERM / SIGINT.
pub async fn run(cfg: Config) -> Result<(), RunError> {
    let mono = MonoClock::start();
    let socket = control::socket_path(&cfg.agent.data_dir);
    // Before touching the store: a live agent here means this one must not
    // open (let alone "recover") the store it is using.
    if tokio::net::UnixStream::connect(&socket).await.is_ok() {
        return Err(RunError::Control {
            path: socket,
            source: std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another edgetherm agent is already running with this data_dir (ask it with `edgetherm status`)",
            ),
        });
    }
    let opts = StoreOptions::default();
    let data_dir = cfg.agent.data_dir.clone();
    let (store, opened) = tokio::task::spawn_blocking(move || Store::open(&data_dir, &opts))
        .await
        .expect("store open thread")?;
    match &opened.opened {
        Opened::Created => tracing::info!(path = %store.path().display(), "created a new store"),
        Opened::Existing => tracing::info!(path = %store.path().display(), "opened the store"),
        Opened::Recovered { moved_to, reason } => tracing::error!(
            path = %store.path().display(), moved_to = %moved_to.display(), reason = %reason,
            "THE STORE WAS DAMAGED: it was moved aside and a fresh one started; what could still be read from it is carried over (see the agent_fault event)"
        ),
    }
    let uplink = match &cfg.relay {
        Some(r) => Some(crate::uplink::Uplink::new(
            r,
            store.clone(),
            cfg.agent.gateway_id.clone(),
            cfg.agent.site.clone(),
            mono,
        )?),
        None => None,
    };
    let (uplink, feed) = match uplink {
        Some((u, f)) => (Some(u), Some(f)),
        None => (None, None),
    };
    let (req_tx, req_rx) = mpsc::channel(16);
    let uplink_handle = feed.as_ref().map(|f| f.handle.clone());
    let server = control::serve(socket.clone(), store.clone(), req_tx, uplink_handle)
        .await
        .map_err(|source| RunError::Control {
            path: socket.clone(),
            source,
        })?;

    // Batches, not readings: an MQTT burst is one entry (see mqtt::client).
    let (tx, rx) = mpsc::channel(16);
    let mut notes = Vec::new();
    let mut pollers = Vec::new();
    for s in &cfg.sensors {
        if let Some(probe) = crate::sources::open(s, &cfg.agent.sysfs_root) {
            pollers.push(tokio::spawn(poller::poll(
                s.id.clone(),
                s.interval,
                probe,
                mono,
                tx.clone(),
            )));
        } else if !matches!(s.source, SensorSource::Mqtt { .. }) {
            let why = "no reader for this kind in this build";
            tracing::warn!(sensor = %s.id, kind = s.source.kind(), "{why}");
            notes.push((s.id.clone(), why.to_string()));
        }
    }
    let router = crate::mqtt::Router::new(&cfg);
    let mqtt_status = match (&cfg.mqtt, router.is_empty()) {
        (Some(m), false) => {
            let cell = crate::mqtt::StatusCell::default();
            pollers.push(tokio::spawn(crate::mqtt::run(
                m.clone(),
                router,
                mono,
                tx.clone(),
                cell.clone(),
            )));
            Some(cell)
        }
        _ => None,
    };
    drop(tx);
    if let Some(u) = uplink {
        tracing::info!(url = %u.client.events_url(), heartbeat = ?u.heartbeat, "relay uplink started");
        pollers.push(tokio::spawn(u.run()));
    }
    tracing::info!(gateway = %cfg.agent.gateway_id, sensors = cfg.sensors.len(), rules = cfg.rules.len(), "edgetherm agent started");

    let mut core = Core::new(cfg, store.clone(), mono, opened, notes, mqtt_status, feed);
    core.start()?;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let mut result = core.run(rx, req_rx).await;
    let lost = core.give_up_held();
    if lost > 0 && result.is_ok() {
        result = Err(RunError::Held(lost));
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    for p in pollers {
        p.abort();
    }
    server.close();
    let flushed = tokio::task::spawn_blocking(move || store.flush())
        .await
        .expect("flush thread");
    if let Err(e) = flushed {
        tracing::error!(error = %e, "final flush failed: readings since the last flush are lost");
    }
    tracing::info!("edgetherm agent stopped");
    result
}

/// How often retention and the disk cap are enforced.
const MAINTENANCE: Duration = Duration::from_secs(300);

/// Source batches taken per group commit: bounds the work between commits.
const BATCHES_PER_COMMIT: usize = 64;
