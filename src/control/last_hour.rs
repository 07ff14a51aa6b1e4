//! Each sensor's last hour for `status`: a few dozen values read from the
//! store and thinned so that a spike survives, with the reading bounded
//! however fast a sensor reports and however many sensors there are.

use edgetherm_proto::Trend;

use super::SensorStatus;
use crate::store::{SpanBudget, Store};

/// How far back the line goes.
pub const SPAN_MS: i64 = 3_600_000;

/// Values kept per sensor at most: the lowest and the highest of 17 slices
/// of the hour, and the newest reading.
pub const POINTS: usize = 36;

/// Readings read per sensor at most: one a second for an hour fits.
pub const PER_SENSOR: usize = 4_000;

/// Readings read for all sensors together, so that a gateway with hundreds
/// of MQTT sensors still answers `status` within the CLI's patience.
const TOTAL: usize = 100_000;

/// Fewest readings read per sensor, however many sensors there are.
const MIN_PER_SENSOR: usize = 2 * POINTS;

/// Fills every sensor's `last_hour`, the hour ending at `now_ms`.
pub fn fill(store: &Store, sensors: &mut [SensorStatus], now_ms: i64) {
    let budget = (TOTAL / sensors.len().max(1)).clamp(MIN_PER_SENSOR, PER_SENSOR);
    for s in sensors.iter_mut() {
        s.last_hour = last_hour(store, &s.id, now_ms, budget);
    }
}

/// `sensor`'s valid readings of the hour ending at `now_ms`, thinned to
/// [`POINTS`], reading at most `budget` readings twice (a faster sensor's
/// hour keeps its start and its end).
pub fn last_hour(store: &Store, sensor: &str, now_ms: i64, budget: usize) -> Vec<f64> {
    let budget = SpanBudget {
        limit: budget,
        queries: 2,
    };
    // A store error leaves the line out: `status` reports the store's trouble itself.
    let Ok(points) = store.valid_span(sensor, now_ms - SPAN_MS, now_ms, budget) else {
        return Vec::new();
    };
    Trend::from_readings(&points, now_ms, POINTS)
        .celsius()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::{Fault, Mono, Reading, Wall};
    use crate::store::StoreOptions;

    const NOW: i64 = 1_800_000_000_000;

    fn store_with(
        sensor: &str,
        readings: impl Iterator<Item = (i64, Result<f64, Fault>)>,
    ) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        for (ms, value) in readings {
            let r = Reading {
                sensor: sensor.into(),
                mono: Mono::ORIGIN,
                wall: Wall {
                    ms,
                    unsynced: false,
                },
                value,
            };
            store.append_reading(&r).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn an_hour_a_second_apart_keeps_its_spike_and_skips_faults() {
        // Two hours at -18 °C, one reading at -5 °C and a few faults in the
        // last hour, one at +40 °C in the hour before it.
        let readings = (0..7200).map(|s| {
            let ms = NOW - 7_200_000 + s * 1000;
            let v = match s {
                1000 => Ok(40.0),
                5000 => Ok(-5.0),
                6000..=6009 => Err(Fault::Crc),
                _ => Ok(-18.0),
            };
            (ms, v)
        });
        let (_dir, store) = store_with("freezer", readings);
        let v = last_hour(&store, "freezer", NOW, PER_SENSOR);
        assert!(!v.is_empty() && v.len() <= POINTS, "{}", v.len());
        assert!(v.contains(&-5.0), "the spike is kept: {v:?}");
        assert!(!v.contains(&40.0), "older than an hour: {v:?}");
        assert!(v.iter().all(|x| x.is_finite()));
        assert!(last_hour(&store, "other", NOW, PER_SENSOR).is_empty());
    }

    #[test]
    fn a_fast_sensor_still_ends_now() {
        // Ten a second for an hour: 36 000 readings, far over the budget;
        // the last minute is at 30 °C.
        let readings = (0..36_000).map(|i| {
            let ms = NOW - SPAN_MS + i * 100;
            (ms, Ok(if ms > NOW - 60_000 { 30.0 } else { 20.0 }))
        });
        let (_dir, store) = store_with("fast", readings);
        let v = last_hour(&store, "fast", NOW, 1000);
        assert!(v.len() <= POINTS);
        assert_eq!(v.last(), Some(&30.0), "{v:?}");
    }

    #[test]
    fn many_sensors_share_the_budget() {
        let mut sensors: Vec<SensorStatus> = (0..3)
            .map(|i| SensorStatus {
                id: format!("s{i}"),
                name: None,
                kind: "sim".into(),
                value: None,
                age_s: None,
                fault: None,
                note: None,
                last_hour: Vec::new(),
            })
            .collect();
        let (_dir, store) =
            store_with("s1", (0..100).rev().map(|s| (NOW - s * 1000, Ok(s as f64))));
        fill(&store, &mut sensors, NOW);
        assert!(sensors[0].last_hour.is_empty());
        // Each of 17 slices of 100 readings rising keeps two, and the newest.
        assert!((POINTS - 2..=POINTS).contains(&sensors[1].last_hour.len()));
        assert_eq!(
            sensors[1]
                .last_hour
                .iter()
                .copied()
                .fold(f64::MIN, f64::max),
            99.0
        );
    }
}
