//! The core loop: owns the engine, the clock and the last values; stamps and
//! stores readings, evaluates rules, commits events, answers the control socket.

use std::collections::HashMap;
use std::time::Duration;

use edgetherm_proto::{EventKind, Severity};
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use super::clock_report::report_clock;
use super::{RunError, BATCHES_PER_COMMIT, MAINTENANCE};
use crate::clock::Clock;
use crate::config::Config;
use crate::control::{Reply, Request, SensorStatus, StatusReport};
use crate::outbox;
use crate::reading::{Fault, Mono, MonoClock, RawBatch, RawReading as Raw, Reading, Wall};
use crate::rules::{event_at, human_ms, Engine, Output};
use crate::store::{OpenReport, Store};

/// The last thing each sensor said.
#[derive(Debug, Default, Clone)]
struct Last {
    value: Option<(f64, Mono)>,
    fault: Option<Fault>,
}

/// The agent's core state.
pub struct Core {
    cfg: Config,
    store: Store,
    clock: Clock,
    engine: Engine,
    opened: OpenReport,
    last: HashMap<String, Last>,
    notes: HashMap<String, String>,
    /// Outputs that could not be saved yet (disk full, I/O error): retried every tick.
    unsaved: Vec<Output>,
    /// Saving is failing (reported once when it starts, once when it ends).
    holding: bool,
    /// Flushing readings is failing (likewise).
    flush_failing: bool,
    mqtt: Option<crate::mqtt::StatusCell>,
    uplink: Option<crate::uplink::Feed>,
    dropped_expired: u64,
    dropped_for_space: u64,
    store_errors: u64,
    /// Each sensor's recent readings, for the trends of its alerts.
    trends: super::trend::Book,
}

impl Core {
    /// Builds the core; `notes` explain sensors that are not polled.
    pub fn new(
        cfg: Config,
        store: Store,
        mono: MonoClock,
        opened: OpenReport,
        notes: Vec<(String, String)>,
        mqtt: Option<crate::mqtt::StatusCell>,
        uplink: Option<crate::uplink::Feed>,
    ) -> Core {
        let mut clock = Clock::new(mono, store.last_wall_ms());
        let (now, _, _) = clock.now();
        let engine = Engine::new(&cfg.rules, &cfg.sensors, now);
        Core {
            cfg,
            store,
            clock,
            engine,
            opened,
            last: HashMap::new(),
            notes: notes.into_iter().collect(),
            unsaved: Vec::new(),
            holding: false,
            flush_failing: false,
            mqtt,
            uplink,
            dropped_expired: 0,
            dropped_for_space: 0,
            store_errors: 0,
            trends: Default::default(),
        }
    }

    fn now(&mut self) -> (Mono, Wall) {
        let (mono, wall, change) = self.clock.now();
        report_clock(change);
        (mono, wall)
    }

    /// Restores alert state, reports a recovered store, logs what the last run left unlogged.
    pub fn start(&mut self) -> Result<(), RunError> {
        let (now, wall) = self.now();
        let saved = self.store.alert_states()?;
        let restored = saved.len();
        let out = self.engine.restore(saved, now, wall);
        if restored > 0 {
            tracing::info!(states = restored, "restored alert state from the store");
        }
        self.save(out);
        if !self.holding {
            self.publish_open();
        }
        let faults = super::store_report::open_faults(&self.opened, wall);
        if !faults.is_empty() {
            self.save(Output {
                events: faults,
                states: Vec::new(),
            });
        }
        self.deliver();
        Ok(())
    }

    /// Runs until a shutdown signal, then returns.
    pub async fn run(
        &mut self,
        mut readings: mpsc::Receiver<RawBatch>,
        mut requests: mpsc::Receiver<(Request, oneshot::Sender<Reply>)>,
    ) -> Result<(), RunError> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(self.cfg.buffer.flush_interval);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut maintain = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(30),
            MAINTENANCE,
        );
        maintain.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let watchdog = sd_notify::watchdog_enabled();
        let mut pet = tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |w| {
            (w / 2).max(Duration::from_millis(500))
        }));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        let mut batches: Vec<RawBatch> = Vec::with_capacity(BATCHES_PER_COMMIT);
        let mut sources_open = true;
        loop {
            tokio::select! {
                n = readings.recv_many(&mut batches, BATCHES_PER_COMMIT), if sources_open => {
                    if n == 0 {
                        sources_open = false;
                    } else {
                        self.on_batches(&mut batches);
                    }
                }
                Some((req, reply)) = requests.recv() => { let _ = reply.send(self.answer(req)); }
                _ = tick.tick() => {
                    let (now, wall) = self.now();
                    let out = self.engine.on_tick(now, wall);
                    self.save(out);
                    self.deliver();
                }
                _ = flush.tick() => self.flush(),
                _ = maintain.tick() => self.maintain(),
                _ = pet.tick(), if watchdog.is_some() => { let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]); }
                _ = tokio::signal::ctrl_c() => { tracing::info!("interrupted: stopping"); break; }
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            }
        }
        // Readings already queued are stored, not lost at shutdown.
        while let Ok(batch) = readings.try_recv() {
            batches.push(batch);
            self.on_batches(&mut batches);
        }
        Ok(())
    }

    /// Group commit: every reading waiting is stored and evaluated, and all
    /// the alert-state changes and events they produced are saved in one
    /// transaction and one flush before any of them is logged or sent.
    fn on_batches(&mut self, batches: &mut Vec<RawBatch>) {
        let mut out = Output::default();
        let mut values: Vec<(String, f64, Mono)> = Vec::new();
        for raw in batches.drain(..).flatten() {
            self.on_raw(raw, &mut out, &mut values);
        }
        if let (Some(u), false) = (&self.uplink, values.is_empty()) {
            u.last.send_modify(|l| {
                for (sensor, v, at) in &values {
                    l.set(sensor, *v, *at);
                }
            });
        }
        if !out.is_empty() {
            self.save(out);
            self.deliver();
        }
    }

    /// Stores and evaluates one reading; its outputs join `out`, a valid
    /// value joins `values` (for the uplink's heartbeat).
    fn on_raw(&mut self, raw: Raw, out: &mut Output, values: &mut Vec<(String, f64, Mono)>) {
        let (mono, wall, change) = self.clock.stamp(raw.mono, raw.system_ms);
        report_clock(change);
        let r = Reading {
            sensor: raw.sensor,
            mono,
            wall,
            value: raw.value,
        };
        if let Err(e) = self.store.append_reading(&r) {
            self.store_errors += 1;
            if self.store_errors.is_power_of_two() {
                tracing::error!(error = %e, count = self.store_errors, "cannot store readings (disk full or failing?); rules keep running");
            }
        }
        let last = match self.last.get_mut(&r.sensor) {
            Some(l) => l,
            None => self.last.entry(r.sensor.clone()).or_default(),
        };
        match &r.value {
            Ok(v) => {
                super::trend::note(
                    &mut self.trends,
                    &self.store,
                    &self.cfg.rules,
                    &r.sensor,
                    wall.ms,
                    *v,
                );
                last.value = Some((*v, mono));
                last.fault = None;
                if self.uplink.is_some() {
                    values.push((r.sensor.clone(), *v, mono));
                }
                tracing::debug!(sensor = %r.sensor, value = v, "reading");
            }
            Err(f) => {
                last.fault = Some(f.clone());
                tracing::debug!(sensor = %r.sensor, fault = %f, "faulty reading");
            }
        }
        let step = self.engine.on_reading(&r);
        out.events.extend(step.events);
        out.states.extend(step.states);
    }

    /// Saves state changes and events durably, everything still held in one
    /// commit; on failure keeps them in memory and retries (every tick).
    fn save(&mut self, mut out: Output) {
        if !out.is_empty() {
            // Before the commit, so the trend is saved with its event (once: retries keep it).
            super::trend::attach(
                &self.store,
                Some(&self.trends),
                &self.cfg.rules,
                &mut out.events,
            );
            self.unsaved.push(out);
        }
        if self.unsaved.is_empty() {
            return;
        }
        if self.unsaved.len() > 1 {
            let mut all = Output::default();
            for o in self.unsaved.drain(..) {
                all.events.extend(o.events);
                all.states.extend(o.states);
            }
            self.unsaved.push(all);
        }
        let next = &self.unsaved[0];
        let result = self.store.commit(&next.states, &next.events);
        match result {
            Ok(_) => {
                self.publish_open();
                if self.holding {
                    self.holding = false;
                    tracing::info!(
                        events = next.events.len(),
                        "the store takes writes again: every alert event held in memory is saved"
                    );
                }
                self.unsaved.clear();
            }
            Err(e) if !self.holding => {
                self.holding = true;
                let ids: Vec<&str> = next.events.iter().map(|e| e.id.as_str()).collect();
                tracing::error!(
                    events = next.events.len(),
                    ids = %ids.join(","),
                    "cannot save alert events to the store: {e}. They are held in memory (not logged or sent until saved) and saved as soon as the store takes writes again (retried every second; free disk space or check the storage device)"
                );
            }
            Err(_) => {}
        }
    }

    /// Tells the heartbeat which episodes are open, as just committed (or
    /// restored): the relay closes a card its gateway stops listing.
    fn publish_open(&self) {
        if let Some(u) = &self.uplink {
            let open = self.engine.open_episodes();
            u.last.send_if_modified(|l| {
                let changed = l.open() != open.as_slice();
                if changed {
                    l.set_open(open);
                }
                changed
            });
        }
    }

    /// At shutdown: one last try to save what is held, then name every event
    /// that is lost with the process. Returns how many.
    pub fn give_up_held(&mut self) -> usize {
        self.save(Output::default());
        let held: Vec<_> = self.unsaved.drain(..).flat_map(|o| o.events).collect();
        for ev in &held {
            tracing::error!(id = %ev.id, event = ev.kind.as_str(), sensor = ev.sensor.as_deref().unwrap_or(""), rule = ev.rule.as_deref().unwrap_or(""), at = %ev.at, "stopping with an alert event that was never saved: it is lost");
        }
        held.len()
    }

    /// Logs the outbox and rings the uplink; without a relay the log is its
    /// destination.
    fn deliver(&mut self) {
        let remove = self.cfg.relay.is_none();
        match outbox::drain_to_log(&self.store, remove) {
            Ok(0) => {}
            Ok(_) => {
                if let Some(u) = &self.uplink {
                    u.wake.notify_one();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot log the outbox, or record that it was logged; retried at the next event or tick")
            }
        }
    }

    fn flush(&mut self) {
        let (_, wall) = self.now();
        let store = &self.store;
        let result = (|| {
            if !wall.unsynced {
                store.note_wall_ms(wall.ms)?;
            }
            store.flush()
        })();
        match result {
            Err(e) if !self.flush_failing => {
                self.flush_failing = true;
                tracing::error!(error = %e, "flushing readings failed: they stay in memory and are retried at every flush_interval");
            }
            Ok(_) if self.flush_failing => {
                self.flush_failing = false;
                tracing::info!("flushing readings works again");
            }
            _ => {}
        }
    }

    fn maintain(&mut self) {
        let (_, wall) = self.now();
        let forgotten = self.trends.forget_silent(wall.ms);
        if forgotten > 0 {
            tracing::debug!(
                count = forgotten,
                "let go of the trend lines of sensors silent for a whole window"
            );
        }
        // Never expire readings on an untrusted clock: 1970 would keep
        // everything, a clock in the future would delete everything.
        let now = (!wall.unsynced).then_some(wall.ms);
        let b = &self.cfg.buffer;
        let result = self
            .store
            .trim(now, b.retention.as_millis() as i64, b.max_disk);
        match result {
            Ok(t) => {
                self.dropped_expired += t.expired;
                self.dropped_for_space += t.for_space;
                if t.expired > 0 {
                    tracing::info!(count = t.expired, retention = %human_ms(b.retention.as_millis() as u64), "dropped readings past retention");
                }
                if t.for_space > 0 {
                    tracing::warn!(
                        count = t.for_space,
                        max_disk = b.max_disk,
                        size = self.store.size_on_disk(),
                        "store over max_disk: dropped the oldest readings (alert events are kept)"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "store maintenance failed"),
        }
    }

    fn answer(&mut self, req: Request) -> Reply {
        match req {
            Request::Status => Reply::Status(Box::new(self.status())),
            Request::TestAlert => {
                let (_, wall) = self.now();
                let mut e = event_at(EventKind::Test, Severity::Info, wall);
                e.detail = Some(format!("test alert from gateway {} (edgetherm test-alert): if you read this, alerts reach you", self.cfg.agent.gateway_id));
                let id = e.id.clone();
                self.save(Output {
                    events: vec![e],
                    states: Vec::new(),
                });
                if !self.unsaved.is_empty() {
                    return Reply::Error {
                        message:
                            "the test event could not be saved to the store (see the agent's log)"
                                .into(),
                    };
                }
                self.deliver();
                let delivered_to = if self.cfg.relay.is_some() {
                    "the agent's log and the relay uplink".to_string()
                } else {
                    "the agent's log (no [relay] configured)".to_string()
                };
                Reply::TestAlert { id, delivered_to }
            }
            Request::History { .. } => Reply::Error {
                message: "history is answered by the socket server".into(),
            },
        }
    }

    fn status(&mut self) -> StatusReport {
        let (now, wall) = self.now();
        let row = |id: &str, name: Option<String>, kind: &str, note: Option<String>| {
            let last = self.last.get(id).cloned().unwrap_or_default();
            SensorStatus {
                id: id.to_string(),
                name,
                kind: kind.to_string(),
                value: last.value.map(|(v, _)| v),
                age_s: last.value.map(|(_, at)| now.since(at) / 1000),
                fault: last.fault.map(|f| f.to_string()),
                note,
                // Read from the store by the socket server, off this thread.
                last_hour: Vec::new(),
            }
        };
        let mut sensors: Vec<SensorStatus> = Vec::new();
        for s in &self.cfg.sensors {
            let note = if s.is_template() {
                Some(match &s.source {
                    crate::config::SensorSource::Mqtt { topic, .. } => {
                        format!("template: one sensor per topic matching {topic}")
                    }
                    _ => "template".to_string(),
                })
            } else {
                self.notes.get(&s.id).cloned()
            };
            sensors.push(row(&s.id, s.name.clone(), s.source.kind(), note));
        }
        // Sensors discovered from MQTT topics.
        let mut found: Vec<&String> = self
            .last
            .keys()
            .filter(|id| self.cfg.sensor(id).is_none())
            .collect();
        found.sort();
        for id in found {
            sensors.push(row(id, None, "mqtt", None));
        }
        let mqtt = self
            .mqtt
            .as_ref()
            .map(|m| m.lock().expect("mqtt status").clone());
        StatusReport {
            gateway: self.cfg.agent.gateway_id.clone(),
            site: self.cfg.agent.site.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_s: self.clock.mono().uptime_ms() / 1000,
            clock_synced: self.clock.is_synced(),
            sensors,
            alerts: self.engine.status(),
            outbox: self.store.outbox_len() as u64,
            delivery: match &self.cfg.relay {
                Some(r) => format!("log and relay {}", r.url),
                None => "log (no [relay] configured)".into(),
            },
            relay: self.uplink.as_ref().map(|u| u.handle.status()),
            store_path: self.store.path().display().to_string(),
            store_bytes: self.store.size_on_disk(),
            dropped_expired: self.dropped_expired,
            dropped_for_space: self.dropped_for_space,
            store_errors: self.store_errors,
            readings_dropped: self.store.readings_dropped(),
            damaged_blocks: self.store.damaged_blocks(),
            events_held: self.unsaved.iter().map(|o| o.events.len() as u64).sum(),
            mqtt,
            wall_ms: wall.ms,
        }
    }
}
