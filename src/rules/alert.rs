//! One (rule, sensor) alert: threshold phases, hysteresis, `for`, `repeat`,
//! flapping hold and `stale`, driven by readings and ticks on the monotonic clock.
//!
//! Flapping: each fire and resolve is remembered (last 32). When resolving
//! would make `flap_changes` or more changes inside `flap_window`, the alert
//! is held firing as "flapping" instead, and resolves only after the value
//! has stayed clear for a whole `flap_window`. A sensor hovering at its
//! threshold thus costs one notification, not one per crossing.

use edgetherm_proto::{Direction, Event, EventKind};
use heapless::HistoryBuffer;

use super::events::{human_ms, new_event, round3, threshold, Origin};
use crate::config::RuleConfig;
use crate::reading::{Mono, Wall};

/// The threshold phase of an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Not breaching.
    Ok,
    /// Breaching, not yet for `for`.
    Pending {
        /// When the breach began (monotonic).
        since: Mono,
        /// When the breach began (wall).
        since_wall: Wall,
        /// Which side.
        dir: Direction,
    },
    /// Fired.
    Firing {
        /// The alert episode id.
        alert: String,
        /// When the breach began (wall).
        since_wall: Wall,
        /// When it fired or last repeated (monotonic).
        last_notify: Mono,
        /// Which side.
        dir: Direction,
        /// The value that fired it.
        value: f64,
        /// Since when the value has been clear while held as flapping.
        clear_since: Option<Mono>,
        /// Held as flapping.
        flapping: bool,
    },
}

/// An open stale alert.
#[derive(Debug, Clone, PartialEq)]
pub struct StaleAlert {
    /// The stale event's id.
    pub alert: String,
    /// Last valid reading's wall stamp (or an estimate).
    pub since_wall: Wall,
}

/// One (rule, sensor) alert's state.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Threshold phase.
    pub phase: Phase,
    /// Open stale alert.
    pub stale: Option<StaleAlert>,
    /// Last valid reading (monotonic; the engine start until the first).
    pub last_valid: Mono,
    /// Last valid value and its wall stamp.
    pub last_value: Option<(f64, Wall)>,
    /// Recent fire/resolve moments, for flapping detection.
    pub changes: HistoryBuffer<Mono, 32>,
}

/// What a step did: events to emit and whether the saved state changed.
#[derive(Debug, Default)]
pub struct Step {
    /// Events, in order.
    pub events: Vec<Event>,
    /// The saved form changed.
    pub dirty: bool,
}

fn breach(rule: &RuleConfig, v: f64) -> Option<Direction> {
    if rule.above.is_some_and(|a| v > a) {
        Some(Direction::Above)
    } else if rule.below.is_some_and(|b| v < b) {
        Some(Direction::Below)
    } else {
        None
    }
}

fn clear(rule: &RuleConfig, dir: Direction, v: f64) -> bool {
    match dir {
        Direction::Above => rule.above.is_none_or(|a| v <= a - rule.hysteresis),
        Direction::Below => rule.below.is_none_or(|b| v >= b + rule.hysteresis),
    }
}

impl Alert {
    /// A quiet alert whose stale clock starts at `now`.
    pub fn new(now: Mono) -> Alert {
        Alert {
            phase: Phase::Ok,
            stale: None,
            last_valid: now,
            last_value: None,
            changes: HistoryBuffer::new(),
        }
    }

    fn changes_within(&self, now: Mono, window_ms: u64) -> usize {
        self.changes
            .oldest_ordered()
            .filter(|t| now.since(**t) <= window_ms)
            .count()
    }

    /// A valid reading `v` taken at `now` / `wall`.
    pub fn on_value(
        &mut self,
        rule: &RuleConfig,
        o: &Origin<'_>,
        v: f64,
        now: Mono,
        wall: Wall,
    ) -> Step {
        let mut step = Step::default();
        self.last_valid = now;
        self.last_value = Some((v, wall));
        if let Some(stale) = self.stale.take() {
            let mut e = new_event(EventKind::Resolved, o, rule.severity, wall);
            e.alert = Some(stale.alert);
            e.value = Some(round3(v));
            e.since = Some(stale.since_wall.rfc3339());
            e.detail = Some(format!("readings are back: {:.1} °C", v));
            step.events.push(e);
            step.dirty = true;
        }
        let for_ms = rule.for_.as_millis() as u64;
        match self.phase.clone() {
            Phase::Ok => {
                if let Some(dir) = breach(rule, v) {
                    if for_ms == 0 {
                        self.fire(rule, o, dir, v, now, wall, wall, &mut step);
                    } else {
                        self.phase = Phase::Pending {
                            since: now,
                            since_wall: wall,
                            dir,
                        };
                        step.dirty = true;
                    }
                }
            }
            Phase::Pending {
                since,
                since_wall,
                dir,
            } => match breach(rule, v) {
                Some(d) if d == dir => {
                    if now.since(since) >= for_ms {
                        self.fire(rule, o, dir, v, now, wall, since_wall, &mut step);
                    }
                }
                Some(d) => {
                    self.phase = Phase::Pending {
                        since: now,
                        since_wall: wall,
                        dir: d,
                    };
                    step.dirty = true;
                }
                None => {
                    self.phase = Phase::Ok;
                    step.dirty = true;
                }
            },
            Phase::Firing {
                alert,
                since_wall,
                last_notify,
                dir,
                value,
                clear_since,
                flapping,
            } => {
                if !clear(rule, dir, v) {
                    if clear_since.is_some() {
                        self.phase = Phase::Firing {
                            alert,
                            since_wall,
                            last_notify,
                            dir,
                            value,
                            clear_since: None,
                            flapping,
                        };
                    }
                    return step;
                }
                let window = rule.flap_window.as_millis() as u64;
                if flapping {
                    let calm_since = clear_since.unwrap_or(now);
                    if now.since(calm_since) >= window {
                        self.resolve(
                            rule, o, &alert, dir, since_wall, v, now, wall, true, &mut step,
                        );
                    } else {
                        self.phase = Phase::Firing {
                            alert,
                            since_wall,
                            last_notify,
                            dir,
                            value,
                            clear_since: Some(calm_since),
                            flapping,
                        };
                    }
                } else if self.changes_within(now, window) + 1 >= rule.flap_changes as usize {
                    tracing::warn!(
                        rule = %rule.id, sensor = %o.sensor,
                        "alert is flapping; holding it firing until the value stays clear for {}",
                        human_ms(window)
                    );
                    self.phase = Phase::Firing {
                        alert,
                        since_wall,
                        last_notify,
                        dir,
                        value,
                        clear_since: Some(now),
                        flapping: true,
                    };
                    step.dirty = true;
                } else {
                    self.resolve(
                        rule, o, &alert, dir, since_wall, v, now, wall, false, &mut step,
                    );
                }
            }
        }
        step
    }

    #[allow(clippy::too_many_arguments)]
    fn fire(
        &mut self,
        rule: &RuleConfig,
        o: &Origin<'_>,
        dir: Direction,
        v: f64,
        now: Mono,
        wall: Wall,
        since: Wall,
        step: &mut Step,
    ) {
        let mut e = new_event(EventKind::Firing, o, rule.severity, wall);
        e.alert = Some(e.id.clone());
        e.value = Some(round3(v));
        e.threshold = Some(threshold(rule, dir));
        e.direction = Some(dir);
        e.since = Some(since.rfc3339());
        e.clock_unsynced |= since.unsynced;
        self.phase = Phase::Firing {
            alert: e.id.clone(),
            since_wall: since,
            last_notify: now,
            dir,
            value: v,
            clear_since: None,
            flapping: false,
        };
        self.changes.write(now);
        step.events.push(e);
        step.dirty = true;
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve(
        &mut self,
        rule: &RuleConfig,
        o: &Origin<'_>,
        alert: &str,
        dir: Direction,
        since: Wall,
        v: f64,
        now: Mono,
        wall: Wall,
        flapped: bool,
        step: &mut Step,
    ) {
        let mut e = new_event(EventKind::Resolved, o, rule.severity, wall);
        e.alert = Some(alert.to_string());
        e.value = Some(round3(v));
        e.threshold = Some(threshold(rule, dir));
        e.direction = Some(dir);
        e.since = Some(since.rfc3339());
        let lasted = if since.unsynced || wall.unsynced {
            String::new()
        } else {
            format!(" after {}", human_ms((wall.ms - since.ms).max(0) as u64))
        };
        e.detail = Some(if flapped {
            format!(
                "back to {v:.1} °C{lasted}; it was flapping and has now stayed clear for {}",
                human_ms(rule.flap_window.as_millis() as u64)
            )
        } else {
            format!("back to {v:.1} °C{lasted}")
        });
        self.phase = Phase::Ok;
        self.changes.write(now);
        step.events.push(e);
        step.dirty = true;
    }

    /// Time passing: `repeat` re-notifications and `stale` detection.
    pub fn on_tick(&mut self, rule: &RuleConfig, o: &Origin<'_>, now: Mono, wall: Wall) -> Step {
        let mut step = Step::default();
        if let (
            Some(repeat),
            Phase::Firing {
                alert,
                since_wall,
                last_notify,
                dir,
                value,
                ..
            },
        ) = (rule.repeat, &mut self.phase)
        {
            if now.since(*last_notify) >= repeat.as_millis() as u64 {
                *last_notify = now;
                let mut e = new_event(EventKind::Firing, o, rule.severity, wall);
                e.alert = Some(alert.clone());
                let current = self.last_value.map_or(*value, |(v, _)| v);
                e.value = Some(round3(current));
                e.threshold = Some(threshold(rule, *dir));
                e.direction = Some(*dir);
                e.since = Some(since_wall.rfc3339());
                e.detail = Some("still firing (repeat)".into());
                step.events.push(e);
            }
        }
        if let (Some(stale), None) = (rule.stale, &self.stale) {
            let quiet = now.since(self.last_valid);
            if quiet >= stale.as_millis() as u64 {
                let since_wall = self.last_value.map_or(
                    Wall {
                        ms: wall.ms - quiet as i64,
                        unsynced: wall.unsynced,
                    },
                    |(_, w)| w,
                );
                let mut e = new_event(EventKind::Stale, o, rule.severity, wall);
                e.alert = Some(e.id.clone());
                e.value = self.last_value.map(|(v, _)| round3(v));
                e.since = Some(since_wall.rfc3339());
                e.detail = Some(match self.last_value {
                    Some((v, _)) => {
                        format!("no valid reading for {} (last: {v:.1} °C)", human_ms(quiet))
                    }
                    None => format!(
                        "no valid reading for {} since the agent started",
                        human_ms(quiet)
                    ),
                });
                self.stale = Some(StaleAlert {
                    alert: e.id.clone(),
                    since_wall,
                });
                step.events.push(e);
                step.dirty = true;
            }
        }
        step
    }
}
