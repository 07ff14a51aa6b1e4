//! From a received publish to sensor readings: which sensors' topics match,
//! which id a wildcard topic yields, and what the payload says.

use std::time::Duration;

use super::payload::{self, Format, Parsed, PayloadSpec, Unit};
use super::topic;
use crate::config::{Config, SensorSource};
use crate::reading::Fault;

/// One mqtt sensor's subscription.
#[derive(Debug, Clone)]
struct Route {
    filter: String,
    id: String,
    spec: PayloadSpec,
    /// How old a retained message may be and still count as a reading.
    fresh_for: Duration,
}

/// What a publish became.
#[derive(Debug)]
pub struct Routed {
    /// The sensor id (templates expanded).
    pub sensor: String,
    /// The temperature, or why there is none.
    pub value: Result<Parsed, Fault>,
}

/// True when every topic matching filter `a` also matches filter `b`.
/// Decided for the cases that occur in configs: `a` without wildcards, and
/// `b` ending in `#` after literal levels; otherwise "no" (both are kept).
fn covers(b: &str, a: &str) -> bool {
    if !a.contains(['+', '#']) {
        return topic::matches(b, a).is_some();
    }
    match b.strip_suffix('#') {
        Some(prefix) if !prefix.contains('+') => {
            a.starts_with(prefix) || a == prefix.trim_end_matches('/')
        }
        _ => false,
    }
}

/// All mqtt sensors of a config.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

/// Retained messages without a stamp of their own are this old at most, for
/// sensors with no `stale` rule (they might be days old otherwise).
const DEFAULT_FRESH: Duration = Duration::from_secs(600);

impl Router {
    /// The routes of every `kind = "mqtt"` sensor in `cfg`.
    pub fn new(cfg: &Config) -> Router {
        let mut routes = Vec::new();
        for s in &cfg.sensors {
            let SensorSource::Mqtt {
                topic,
                format,
                field,
                unit,
                range,
            } = &s.source
            else {
                continue;
            };
            // The shortest `stale` of the rules covering it bounds what is fresh.
            let fresh_for = cfg
                .rules
                .iter()
                .filter(|r| r.covers(&s.id) || s.is_template())
                .filter_map(|r| r.stale)
                .min()
                .unwrap_or(DEFAULT_FRESH);
            routes.push(Route {
                filter: topic.clone(),
                id: s.id.clone(),
                spec: PayloadSpec {
                    format: Format::from_name(format).unwrap_or(Format::Plain),
                    field: field.clone(),
                    unit: unit
                        .as_deref()
                        .map(|u| if u == "F" { Unit::F } else { Unit::C }),
                    range: *range,
                },
                fresh_for,
            });
        }
        Router { routes }
    }

    /// True when there is nothing to subscribe to.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The topic filters to subscribe to: distinct, and none that another
    /// one already covers — a broker may deliver one copy of a publish per
    /// matching subscription (MQTT 3.1.1 §3.3.5).
    pub fn filters(&self) -> Vec<String> {
        let mut all: Vec<String> = self.routes.iter().map(|r| r.filter.clone()).collect();
        all.sort();
        all.dedup();
        all.iter()
            .filter(|a| !all.iter().any(|b| b != *a && covers(b, a)))
            .cloned()
            .collect()
    }

    /// Readings for one publish. A retained message counts only if its
    /// payload carries a stamp younger than the sensor's freshness bound
    /// (`now_ms` is the current wall clock); `ignored` counts the others.
    pub fn route(
        &self,
        topic_name: &str,
        body: &[u8],
        retained: bool,
        now_ms: i64,
        ignored: &mut u64,
    ) -> Vec<Routed> {
        let mut out: Vec<Routed> = Vec::new();
        // Explicit sensors first, so they win over a template yielding the same id.
        let ordered = self
            .routes
            .iter()
            .filter(|r| !topic::is_template(&r.id))
            .chain(self.routes.iter().filter(|r| topic::is_template(&r.id)));
        for r in ordered {
            let Some(captures) = topic::matches(&r.filter, topic_name) else {
                continue;
            };
            let sensor = if topic::is_template(&r.id) {
                match topic::expand_id(&r.id, &captures) {
                    Some(id) => id,
                    None => continue,
                }
            } else {
                r.id.clone()
            };
            if out.iter().any(|o| o.sensor == sensor) {
                // One reading per sensor per publish, however many routes match.
                continue;
            }
            // Some messages on a sensor's topic carry no temperature at all
            // (Shelly notifications about humidity, button events): skip them.
            let value = match payload::parse_message(&r.spec, body) {
                Ok(Some(p)) => Ok(p),
                Ok(None) => continue,
                Err(f) => Err(f),
            };
            if retained {
                let fresh = matches!(&value, Ok(p) if p.stamp_ms.is_some_and(|t| now_ms - t <= r.fresh_for.as_millis() as i64));
                if !fresh {
                    *ignored += 1;
                    tracing::debug!(topic = topic_name, sensor = %sensor, "retained message without a recent stamp: not taken as a fresh reading");
                    continue;
                }
            }
            out.push(Routed { sensor, value });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn filter_coverage() {
        assert!(covers("sensors/+/temperature", "sensors/room/temperature"));
        assert!(covers("sensors/#", "sensors/+/temperature"));
        assert!(covers("#", "a/b"));
        assert!(!covers("sensors/+/temperature", "sensors/room/humidity"));
        assert!(!covers("a/+/t", "a/x/+"), "undecided overlaps keep both");
        assert!(!covers("sensors/room/temperature", "sensors/+/temperature"));
    }
}
