//! The heartbeat's content: each sensor's last valid value and the open
//! alert episodes. The core keeps it current; the uplink reads it when a
//! heartbeat is due.

use std::collections::BTreeMap;
use std::time::Duration;

use edgetherm_proto::{Heartbeat, SensorBeat};

use crate::reading::Mono;

/// The last valid value of each sensor and when it was read, and the
/// alert episodes open as of the last commit.
#[derive(Debug, Default, Clone)]
pub struct LastValues {
    values: BTreeMap<String, (f64, Mono)>,
    open: Vec<String>,
}

impl LastValues {
    /// Records a sensor's newest valid value.
    pub fn set(&mut self, sensor: &str, value: f64, at: Mono) {
        match self.values.get_mut(sensor) {
            Some(slot) => *slot = (value, at),
            None => {
                self.values.insert(sensor.to_string(), (value, at));
            }
        }
    }

    /// The open episodes, as committed to the store: an episode whose
    /// events are in the outbox is listed, one resolved in a saved commit
    /// is not, so the relay never sees a heartbeat ahead of the events.
    pub fn set_open(&mut self, open: Vec<String>) {
        self.open = open;
    }

    /// The open episodes last set.
    pub fn open(&self) -> &[String] {
        &self.open
    }

    /// The heartbeat as sent. Values are rounded to 0.01 °C: a metered uplink
    /// should not pay for digits no sensor resolves.
    pub fn heartbeat(&self, now: Mono, uptime_s: u64, outbox: u64, every: Duration) -> Heartbeat {
        Heartbeat {
            uptime_s,
            outbox,
            interval_s: Some(every.as_secs().max(1)),
            sensors: self
                .values
                .iter()
                .map(|(id, (v, at))| SensorBeat {
                    id: id.clone(),
                    value: Some((v * 100.0).round() / 100.0),
                    age_s: Some(now.since(*at) / 1000),
                })
                .collect(),
            open: Some(self.open.clone()),
            agent: Some(concat!("edgetherm ", env!("CARGO_PKG_VERSION")).to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_has_each_sensor_once_with_its_age() {
        let mut last = LastValues::default();
        last.set("b", 21.456_78, Mono(1_000));
        last.set("a", -18.0, Mono(2_000));
        last.set("b", 22.004, Mono(5_000));
        let hb = last.heartbeat(Mono(12_500), 60, 3, Duration::from_secs(30));
        assert_eq!(hb.interval_s, Some(30));
        assert_eq!(hb.uptime_s, 60);
        assert_eq!(hb.outbox, 3);
        let got: Vec<(&str, Option<f64>, Option<u64>)> = hb
            .sensors
            .iter()
            .map(|s| (s.id.as_str(), s.value, s.age_s))
            .collect();
        assert_eq!(
            got,
            vec![("a", Some(-18.0), Some(10)), ("b", Some(22.0), Some(7))]
        );
        assert_eq!(hb.open, Some(Vec::new()), "listed, even when none is open");
        assert_eq!(
            hb.agent.as_deref(),
            Some(concat!("edgetherm ", env!("CARGO_PKG_VERSION")))
        );
        last.set_open(vec!["01A".into(), "01B".into()]);
        let hb = last.heartbeat(Mono(12_500), 60, 3, Duration::from_secs(30));
        assert_eq!(hb.open, Some(vec!["01A".to_string(), "01B".to_string()]));
    }
}
