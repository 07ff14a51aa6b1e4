//! The broker connection: connect, subscribe on every ConnAck (rumqttc does
//! not resubscribe by itself, and a restarted broker forgets a clean
//! session's subscriptions), back off with jitter on errors (rumqttc retries
//! at once, in a tight loop, if polled after an error), forever.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS, SubscribeReasonCode,
    TlsConfiguration, Transport,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::route::Router;
use crate::backoff::Backoff;
use crate::config::{MqttConfig, Secret};
use crate::reading::{MonoClock, RawBatch, RawReading, Wall};

/// The broker connection's state, for `edgetherm status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MqttStatus {
    /// The broker URL.
    pub broker: String,
    /// Connected now.
    pub connected: bool,
    /// When the current state began (RFC 3339).
    pub since: Option<String>,
    /// The last connection error, for people.
    pub last_error: Option<String>,
    /// Successful connections so far.
    pub connects: u64,
    /// Publishes received.
    pub messages: u64,
    /// Readings dropped because the agent could not keep up.
    pub dropped: u64,
    /// Retained messages not taken as fresh readings.
    pub retained_ignored: u64,
    /// The topic filters subscribed to.
    pub subscriptions: Vec<String>,
}

/// Shared between the connection task and the status answer.
pub type StatusCell = Arc<Mutex<MqttStatus>>;

/// Where and how to connect, from `[mqtt] url`.
fn endpoint(url: &str) -> (bool, String, u16) {
    let (tls, rest) = match url.strip_prefix("mqtts://") {
        Some(r) => (true, r),
        None => (false, url.strip_prefix("mqtt://").unwrap_or(url)),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').unwrap_or((v6, ""));
        (
            h.to_string(),
            after
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .unwrap_or(default_port),
        )
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().unwrap_or(default_port)),
            None => (authority.to_string(), default_port),
        }
    };
    (tls, host, port)
}

fn read_secret(s: &Secret) -> Result<String, String> {
    match s {
        Secret::Inline(v) => Ok(v.clone()),
        Secret::File(p) => std::fs::read_to_string(p)
            .map(|v| v.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| format!("cannot read password_file {}: {e}", p.display())),
    }
}

/// rumqttc options for `cfg` (reads the password file).
pub(super) fn options(cfg: &MqttConfig) -> Result<MqttOptions, String> {
    let (tls, host, port) = endpoint(&cfg.url);
    let mut o = MqttOptions::new(cfg.client_id.clone(), host, port);
    o.set_keep_alive(cfg.keep_alive.max(Duration::from_secs(5)));
    o.set_clean_session(true);
    // Zigbee2MQTT and Tasmota payloads can exceed rumqttc's 10 KiB default.
    o.set_max_packet_size(256 * 1024, 64 * 1024);
    if let Some(user) = &cfg.username {
        let password = cfg
            .password
            .as_ref()
            .map(read_secret)
            .transpose()?
            .unwrap_or_default();
        o.set_credentials(user.clone(), password);
    }
    if tls {
        let config = super::tls::client_config(cfg).map_err(|e| e.to_string())?;
        o.set_transport(Transport::Tls(TlsConfiguration::Rustls(config)));
    }
    Ok(o)
}

/// A person's explanation of a connection error.
pub(super) fn explain(e: &ConnectionError) -> String {
    let text = e.to_string();
    let hint = if text.contains("UnknownIssuer") || text.contains("invalid peer certificate") {
        " — the broker's certificate is not signed by a CA we trust: check [mqtt] ca_file"
    } else if text.contains("NotValidForName") {
        " — the broker's certificate does not name this host: use the host name it was issued for in [mqtt] url"
    } else if text.contains("BadUserNamePassword") || text.contains("NotAuthorized") {
        " — check [mqtt] username and password_file"
    } else if text.contains("Connection refused") || text.contains("os error 111") {
        " — nothing listens there: is the broker running, and the port right?"
    } else {
        ""
    };
    format!("{text}{hint}")
}

/// A burst is handed to the core once it has this many readings...
const BATCH_MAX: usize = 256;
/// ...and while the core is busy committing, readings wait here, up to this
/// many; only beyond it are they dropped (and counted).
const HOLD_MAX: usize = 16 * BATCH_MAX;

/// Readings routed from publishes but not yet handed to the core.
struct Pending {
    batch: RawBatch,
    messages: u64,
    ignored: u64,
}

impl Pending {
    fn new() -> Pending {
        Pending {
            // Grown as a burst needs: at low rates a burst is one reading,
            // and a 256-reading buffer per hand-over made glibc consolidate
            // its free lists every time (malloc_consolidate: 2.6 -> 1.9 % of
            // perf samples at 1k/s).
            batch: Vec::new(),
            messages: 0,
            ignored: 0,
        }
    }

    /// Hands the batch over if the core has room; drops it only when more
    /// than `HOLD_MAX` readings are waiting. False once the core is gone.
    fn offer(&mut self, tx: &mpsc::Sender<RawBatch>, status: &StatusCell) -> bool {
        match tx.try_reserve() {
            Ok(permit) => {
                self.send(permit, status);
                true
            }
            Err(TrySendError::Full(())) => {
                if self.batch.len() >= HOLD_MAX {
                    let dropped = self.batch.len() as u64;
                    self.batch.clear();
                    self.book(status, dropped);
                }
                true
            }
            Err(TrySendError::Closed(())) => false,
        }
    }

    fn send(&mut self, permit: mpsc::Permit<'_, RawBatch>, status: &StatusCell) {
        if !self.batch.is_empty() {
            permit.send(std::mem::take(&mut self.batch));
        }
        self.book(status, 0);
    }

    fn book(&mut self, status: &StatusCell, dropped: u64) {
        if self.messages == 0 && dropped == 0 {
            return;
        }
        let total_dropped = {
            let mut s = status.lock().expect("status lock");
            s.messages += self.messages;
            s.retained_ignored += self.ignored;
            s.dropped += dropped;
            s.dropped
        };
        self.messages = 0;
        self.ignored = 0;
        // Logged each time the total passes a power of two, not once per batch.
        if dropped > 0 && (total_dropped - dropped).leading_zeros() != total_dropped.leading_zeros()
        {
            tracing::warn!(dropped = total_dropped, "MQTT readings arrive faster than the agent stores them: dropping (counted in status)");
        }
    }
}

/// Runs the broker connection until the receiver goes away.
pub async fn run(
    cfg: MqttConfig,
    router: Router,
    mono: MonoClock,
    tx: mpsc::Sender<RawBatch>,
    status: StatusCell,
) {
    let filters = router.filters();
    {
        let mut s = status.lock().expect("status lock");
        s.broker = cfg.url.clone();
        s.subscriptions = filters.clone();
    }
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let set = |f: &dyn Fn(&mut MqttStatus)| f(&mut status.lock().expect("status lock"));
    loop {
        let opts = match options(&cfg) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(broker = %cfg.url, "MQTT set-up failed: {e}; retrying in 60 s");
                set(&|s| s.last_error = Some(e.clone()));
                tokio::time::sleep(Duration::from_secs(60)).await;
                continue;
            }
        };
        let (client, mut events) = AsyncClient::new(opts, 64);
        let mut connected = false;
        let mut reported_error = false;
        let mut pending = Pending::new();
        loop {
            // Readings go to the core when the connection has nothing more
            // ready (or the batch is full): one hand-over per burst, not per
            // publish. Polling once without waiting tells which it is.
            let next = {
                let mut poll = std::pin::pin!(events.poll());
                match std::future::poll_fn(|cx| std::task::Poll::Ready(poll.as_mut().poll(cx)))
                    .await
                {
                    std::task::Poll::Ready(ev) => ev,
                    std::task::Poll::Pending if pending.batch.is_empty() => {
                        pending.book(&status, 0);
                        poll.await
                    }
                    std::task::Poll::Pending => tokio::select! {
                        // Nothing more to read now: wait for room in the
                        // core's queue, or for the next packet.
                        biased;
                        permit = tx.reserve() => match permit {
                            Ok(p) => {
                                pending.send(p, &status);
                                poll.await
                            }
                            Err(_) => return,
                        },
                        ev = poll.as_mut() => ev,
                    },
                }
            };
            match next {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    reported_error = false;
                    backoff.reset();
                    tracing::info!(broker = %cfg.url, subscriptions = filters.len(), "MQTT connected");
                    set(&|s| {
                        s.connected = true;
                        s.connects += 1;
                        s.since = Some(Wall::system_now().rfc3339());
                    });
                    // Every ConnAck: the broker may have lost our subscriptions.
                    let subs = filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                    if let Err(e) = client.try_subscribe_many(subs) {
                        tracing::error!(error = %e, "MQTT subscribe could not be queued");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    for (code, filter) in ack.return_codes.iter().zip(&filters) {
                        if matches!(code, SubscribeReasonCode::Failure) {
                            tracing::error!(topic = %filter, "the broker refused the subscription (ACL?): this sensor will get no readings");
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let now_ms = Wall::system_now().ms;
                    let routed =
                        router.route(&p.topic, &p.payload, p.retain, now_ms, &mut pending.ignored);
                    pending.messages += 1;
                    let at = mono.now();
                    pending.batch.extend(routed.into_iter().map(|r| RawReading {
                        sensor: r.sensor,
                        mono: at,
                        system_ms: now_ms,
                        value: r.value.map(|v| v.celsius),
                    }));
                    if pending.batch.len() >= BATCH_MAX && !pending.offer(&tx, &status) {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if !pending.offer(&tx, &status) {
                        return;
                    }
                    let why = explain(&e);
                    if connected || !reported_error {
                        tracing::warn!(broker = %cfg.url, "MQTT connection {}: {why}; reconnecting with backoff", if connected { "lost" } else { "failed" });
                        reported_error = true;
                    }
                    connected = false;
                    set(&|s| {
                        if s.connected {
                            s.since = Some(Wall::system_now().rfc3339());
                        }
                        s.connected = false;
                        s.last_error = Some(why.clone());
                    });
                    tokio::time::sleep(backoff.next_delay()).await;
                    if matches!(e, ConnectionError::RequestsDone) {
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("mqtt://127.0.0.1:1884"),
            (false, "127.0.0.1".into(), 1884)
        );
        assert_eq!(endpoint("mqtt://broker"), (false, "broker".into(), 1883));
        assert_eq!(
            endpoint("mqtts://broker.lan"),
            (true, "broker.lan".into(), 8883)
        );
        assert_eq!(endpoint("mqtts://[::1]:8884"), (true, "::1".into(), 8884));
        assert_eq!(endpoint("mqtt://[::1]"), (false, "::1".into(), 1883));
    }
}
