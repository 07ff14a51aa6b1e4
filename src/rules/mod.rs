//! The rule engine: readings in, alert events and state changes out.
//!
//! Pure and synchronous: no I/O, no clock of its own (time comes in with the
//! readings and ticks), so it can be driven by property tests. The caller
//! saves `Output::states` and `Output::events` together (see `store::commit`).

mod alert;
mod events;
mod faults;
mod saved;

use std::collections::{BTreeMap, HashMap};

use edgetherm_proto::{Event, EventKind};

use crate::config::{RuleConfig, SensorConfig};
use crate::reading::{Mono, Reading, Wall};

pub use alert::{Alert, Phase};
pub use events::{event_at, human_ms};
use events::{new_event, Origin};
use faults::FaultTrack;
pub use saved::{alert_key, fault_key, Saved, SavedPhase, SavedStale};

/// What the engine produced.
#[derive(Debug, Default)]
pub struct Output {
    /// Events to append to the outbox, in order.
    pub events: Vec<Event>,
    /// Saved-state changes (`None` deletes), keyed as in `saved`.
    pub states: Vec<(String, Option<Vec<u8>>)>,
}

impl Output {
    /// True when there is nothing to save.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.states.is_empty()
    }
}

/// One alert's state, for `edgetherm status`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AlertStatus {
    /// Rule id.
    pub rule: String,
    /// Sensor id.
    pub sensor: String,
    /// ok, pending, firing, flapping, stale (or combinations like "firing+stale").
    pub state: String,
    /// When the current state began (RFC 3339), if not ok.
    pub since: Option<String>,
}

/// All rules over all sensors.
pub struct Engine {
    /// Sensor ids can appear at run time (MQTT topic templates).
    dynamic: bool,
    rules: Vec<RuleConfig>,
    names: HashMap<String, Option<String>>,
    alerts: BTreeMap<(usize, String), Alert>,
    faults: BTreeMap<String, FaultTrack>,
}

impl Engine {
    /// An engine for these rules and sensors, everything quiet, stale clocks starting at `now`.
    pub fn new(rules: &[RuleConfig], sensors: &[SensorConfig], now: Mono) -> Engine {
        let mut engine = Engine {
            dynamic: sensors.iter().any(SensorConfig::is_template),
            rules: rules.to_vec(),
            names: HashMap::new(),
            alerts: BTreeMap::new(),
            faults: BTreeMap::new(),
        };
        for s in sensors.iter().filter(|s| !s.is_template()) {
            engine.add_sensor(&s.id, s.name.clone(), now);
        }
        engine
    }

    /// Adds a sensor and its alerts (for each rule covering it), once.
    fn add_sensor(&mut self, id: &str, name: Option<String>, now: Mono) {
        if self.names.contains_key(id) {
            return;
        }
        self.names.insert(id.to_string(), name);
        self.faults.insert(id.to_string(), FaultTrack::default());
        for (i, r) in self.rules.iter().enumerate() {
            if r.covers(id) {
                self.alerts.insert((i, id.to_string()), Alert::new(now));
            }
        }
    }

    fn rule_index(&self, id: &str) -> Option<usize> {
        self.rules.iter().position(|r| r.id == id)
    }

    fn save(&self, key: &(usize, String)) -> (String, Option<Vec<u8>>) {
        let alert = &self.alerts[key];
        let phase = match &alert.phase {
            Phase::Ok => SavedPhase::Ok,
            Phase::Pending {
                since_wall, dir, ..
            } => SavedPhase::Pending {
                since_ms: since_wall.ms,
                unsynced: since_wall.unsynced,
                dir: *dir,
            },
            Phase::Firing {
                alert,
                since_wall,
                dir,
                value,
                flapping,
                ..
            } => SavedPhase::Firing {
                alert: alert.clone(),
                since_ms: since_wall.ms,
                unsynced: since_wall.unsynced,
                dir: *dir,
                value: *value,
                flapping: *flapping,
            },
        };
        let stale = alert.stale.as_ref().map(|s| SavedStale {
            alert: s.alert.clone(),
            since_ms: s.since_wall.ms,
        });
        let k = alert_key(&self.rules[key.0].id, &key.1);
        if phase == SavedPhase::Ok && stale.is_none() {
            return (k, None);
        }
        let saved = Saved::Alert { phase, stale };
        (
            k,
            Some(serde_json::to_vec(&saved).expect("state serialises")),
        )
    }

    /// Restores saved states (from a previous run) at `now` / `wall`. States
    /// for rules or sensors no longer configured are deleted; a firing alert
    /// among them gets a `resolved` event so nobody is left with an open alert.
    pub fn restore(&mut self, saved: Vec<(String, Vec<u8>)>, now: Mono, wall: Wall) -> Output {
        let mut out = Output::default();
        for (key, bytes) in saved {
            let parsed: Option<Saved> = serde_json::from_slice(&bytes).ok();
            let mut parts = key.splitn(3, '/');
            let (kind, a, b) = (parts.next(), parts.next(), parts.next());
            match (kind, a, b, parsed) {
                (Some("a"), Some(rule), Some(sensor), Some(Saved::Alert { phase, stale })) => {
                    if self.dynamic {
                        // A sensor discovered from a topic in an earlier run.
                        self.add_sensor(sensor, None, now);
                    }
                    let slot = self.rule_index(rule).map(|i| (i, sensor.to_string()));
                    match slot.filter(|k| self.alerts.contains_key(k)) {
                        Some(k) => {
                            let rule_cfg = &self.rules[k.0];
                            let alert = self.alerts.get_mut(&k).expect("checked");
                            alert.phase = restore_phase(phase, rule_cfg, now, wall);
                            alert.stale = stale.map(|s| alert::StaleAlert {
                                alert: s.alert,
                                since_wall: Wall {
                                    ms: s.since_ms,
                                    unsynced: false,
                                },
                            });
                        }
                        None => {
                            if let SavedPhase::Firing {
                                alert,
                                since_ms,
                                dir,
                                ..
                            } = phase
                            {
                                let origin = Origin {
                                    rule: None,
                                    sensor,
                                    sensor_name: None,
                                };
                                let mut e = new_event(
                                    EventKind::Resolved,
                                    &origin,
                                    edgetherm_proto::Severity::Info,
                                    wall,
                                );
                                e.rule = Some(rule.to_string());
                                e.alert = Some(alert);
                                e.direction = Some(dir);
                                e.since = Some(
                                    Wall {
                                        ms: since_ms,
                                        unsynced: false,
                                    }
                                    .rfc3339(),
                                );
                                e.detail = Some(
                                    "closed: its rule or sensor was removed from the config".into(),
                                );
                                out.events.push(e);
                            }
                            out.states.push((key, None));
                        }
                    }
                }
                (
                    Some("f"),
                    Some(sensor),
                    None,
                    Some(Saved::Fault {
                        active,
                        last_emit_ms,
                    }),
                ) if self.dynamic || self.faults.contains_key(sensor) => {
                    self.add_sensor(sensor, None, now);
                    self.faults.insert(
                        sensor.to_string(),
                        FaultTrack::restore(active, last_emit_ms, now, wall),
                    );
                }
                _ => {
                    tracing::warn!(key = %key, "dropping a saved alert state that no longer matches the config or cannot be read");
                    out.states.push((key, None));
                }
            }
        }
        out
    }

    /// Feeds one reading through every rule covering its sensor.
    pub fn on_reading(&mut self, r: &Reading) -> Output {
        let mut out = Output::default();
        if self.dynamic {
            self.add_sensor(&r.sensor, None, r.mono);
        }
        let name = self.names.get(&r.sensor).cloned().flatten();
        match &r.value {
            Ok(v) => {
                if let Some(track) = self.faults.get_mut(&r.sensor) {
                    if track.on_valid() {
                        tracing::info!(sensor = %r.sensor, value = v, "sensor recovered from its fault");
                        out.states.push((fault_key(&r.sensor), track.save(r.wall)));
                    }
                }
                let keys: Vec<(usize, String)> = self
                    .alerts
                    .range((0, r.sensor.clone())..)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in keys.into_iter().filter(|k| k.1 == r.sensor) {
                    let origin = Origin {
                        rule: Some(&self.rules[key.0]),
                        sensor: &r.sensor,
                        sensor_name: name.as_deref(),
                    };
                    let step = self.alerts.get_mut(&key).expect("listed").on_value(
                        &self.rules[key.0],
                        &origin,
                        *v,
                        r.mono,
                        r.wall,
                    );
                    out.events.extend(step.events);
                    if step.dirty {
                        out.states.push(self.save(&key));
                    }
                }
            }
            Err(fault) => {
                let track = self.faults.entry(r.sensor.clone()).or_default();
                if let Some(count) = track.on_fault(r.mono) {
                    let origin = Origin {
                        rule: None,
                        sensor: &r.sensor,
                        sensor_name: name.as_deref(),
                    };
                    let mut e = new_event(
                        EventKind::SensorFault,
                        &origin,
                        edgetherm_proto::Severity::Warning,
                        r.wall,
                    );
                    let also = if count > 1 {
                        format!(" ({} faulty readings since the last report)", count)
                    } else {
                        String::new()
                    };
                    e.detail = Some(format!("{fault}{also}"));
                    out.events.push(e);
                    out.states.push((fault_key(&r.sensor), track.save(r.wall)));
                }
            }
        }
        out
    }

    /// Time passing without readings: `stale` and `repeat`.
    pub fn on_tick(&mut self, now: Mono, wall: Wall) -> Output {
        let mut out = Output::default();
        let keys: Vec<(usize, String)> = self.alerts.keys().cloned().collect();
        for key in keys {
            let name = self.names.get(&key.1).cloned().flatten();
            let origin = Origin {
                rule: Some(&self.rules[key.0]),
                sensor: &key.1,
                sensor_name: name.as_deref(),
            };
            let step = self.alerts.get_mut(&key).expect("listed").on_tick(
                &self.rules[key.0],
                &origin,
                now,
                wall,
            );
            out.events.extend(step.events);
            if step.dirty {
                out.states.push(self.save(&key));
            }
        }
        out
    }

    /// Every alert's state, for status.
    pub fn status(&self) -> Vec<AlertStatus> {
        self.alerts
            .iter()
            .map(|((i, sensor), a)| {
                let (mut state, mut since) = match &a.phase {
                    Phase::Ok => ("ok".to_string(), None),
                    Phase::Pending { since_wall, .. } => {
                        ("pending".to_string(), Some(since_wall.rfc3339()))
                    }
                    Phase::Firing {
                        since_wall,
                        flapping,
                        ..
                    } => (
                        (if *flapping { "flapping" } else { "firing" }).to_string(),
                        Some(since_wall.rfc3339()),
                    ),
                };
                if let Some(s) = &a.stale {
                    state = if state == "ok" {
                        "stale".into()
                    } else {
                        format!("{state}+stale")
                    };
                    since = since.or(Some(s.since_wall.rfc3339()));
                }
                AlertStatus {
                    rule: self.rules[*i].id.clone(),
                    sensor: sensor.clone(),
                    state,
                    since,
                }
            })
            .collect()
    }

    /// The `alert` ids of the episodes open now (firing, also while held as
    /// flapping, or stale), sorted: what the heartbeat lists.
    pub fn open_episodes(&self) -> Vec<String> {
        let mut open: Vec<String> = Vec::new();
        for a in self.alerts.values() {
            if let alert::Phase::Firing { alert, .. } = &a.phase {
                open.push(alert.clone());
            }
            if let Some(s) = &a.stale {
                open.push(s.alert.clone());
            }
        }
        open.sort();
        open
    }

    /// The alert for (rule index, sensor), for tests.
    pub fn alert(&self, rule: usize, sensor: &str) -> Option<&Alert> {
        self.alerts.get(&(rule, sensor.to_string()))
    }
}

fn restore_phase(phase: SavedPhase, rule: &RuleConfig, now: Mono, wall: Wall) -> Phase {
    match phase {
        SavedPhase::Ok => Phase::Ok,
        SavedPhase::Pending {
            since_ms,
            unsynced,
            dir,
        } => {
            // Continue the `for` countdown only on a trusted clock; otherwise
            // start it again (later, never early).
            let elapsed = if unsynced || wall.unsynced {
                0
            } else {
                (wall.ms - since_ms).clamp(0, rule.for_.as_millis() as i64) as u64
            };
            Phase::Pending {
                since: Mono(now.0.saturating_sub(elapsed)),
                since_wall: Wall {
                    ms: since_ms,
                    unsynced,
                },
                dir,
            }
        }
        SavedPhase::Firing {
            alert,
            since_ms,
            unsynced,
            dir,
            value,
            flapping,
        } => Phase::Firing {
            alert,
            since_wall: Wall {
                ms: since_ms,
                unsynced,
            },
            // A restart does not count as a notification, but it must not
            // cause an immediate repeat either: the next repeat is a full period away.
            last_notify: now,
            dir,
            value,
            clear_since: None,
            flapping,
        },
    }
}
