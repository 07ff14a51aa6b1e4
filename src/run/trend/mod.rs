//! The trend an alert event carries (docs/wire.md, `trend`): its sensor's
//! readings before the event, read from the store when the event is saved,
//! so that the trend is committed with the event and survives a restart.

use std::time::UNIX_EPOCH;

use edgetherm_proto::trend::{Trend, MAX_POINTS, MAX_SPAN_S};
use edgetherm_proto::{Event, EventKind};

use crate::config::{RuleConfig, DEFAULT_TREND};
use crate::store::{Store, StoreError, StoredReading};

/// Readings one store query returns at most. With `MAX_QUERIES` this bounds
/// what one event costs: a 24 h episode of a sensor read every 100 ms holds
/// 864,000 readings, and the alert must not wait for them.
const READ_LIMIT: usize = 2_000;

/// Store queries per trend at most.
const MAX_QUERIES: usize = 3;

/// A resolved trend starts at least this long before its episode, so the
/// card shows where the value came from before it crossed.
const MIN_LEAD_MS: i64 = 5 * 60_000;

/// Gives every `firing`, `stale` and `resolved` event about a sensor its
/// trend, unless its rule says `trend = "off"`. Never fails: an event whose
/// readings cannot be read goes without a trend, and a warning says why.
pub fn attach(store: &Store, rules: &[RuleConfig], events: &mut [Event]) {
    attach_from(
        |sensor, from, limit| store.readings_since(sensor, from, limit),
        rules,
        events,
    );
}

/// [`attach`], reading through `read` (`Store::readings_since`'s shape).
pub fn attach_from(
    mut read: impl FnMut(&str, i64, usize) -> Result<Vec<StoredReading>, StoreError>,
    rules: &[RuleConfig],
    events: &mut [Event],
) {
    for e in events.iter_mut() {
        let (Some((from_ms, at_ms)), Some(sensor)) = (span(e, rules), e.sensor.as_deref()) else {
            continue;
        };
        match valid_readings(&mut read, sensor, from_ms, at_ms) {
            Ok(readings) => {
                let trend = Trend::from_readings(&readings, at_ms, MAX_POINTS);
                e.trend = (!trend.is_empty()).then_some(trend);
            }
            Err(err) => tracing::warn!(
                id = %e.id, event = e.kind.as_str(), sensor, error = %err,
                "cannot read the sensor's recent readings: the event goes without its trend"
            ),
        }
    }
}

/// The stamps (Unix ms) an event's trend runs from and to, or `None` when
/// it carries none: not a rule's alert about a sensor, `trend = "off"`, or
/// an `at` that is not ours to read.
pub fn span(e: &Event, rules: &[RuleConfig]) -> Option<(i64, i64)> {
    if !matches!(
        e.kind,
        EventKind::Firing | EventKind::Stale | EventKind::Resolved
    ) || e.sensor.is_none()
    {
        return None;
    }
    let window = match e
        .rule
        .as_deref()
        .and_then(|id| rules.iter().find(|r| r.id == id))
    {
        Some(rule) => rule.trend?,
        // The resolve that closes the episode of a rule no longer configured.
        None => DEFAULT_TREND,
    };
    let at = rfc3339_ms(&e.at)?;
    let mut from = at.saturating_sub(window.as_millis() as i64);
    if e.kind == EventKind::Resolved {
        if let Some(since) = e.since.as_deref().and_then(rfc3339_ms) {
            let lead = ((at - since) / 10).max(MIN_LEAD_MS);
            from = from.min(since.saturating_sub(lead));
        }
    }
    Some((from.max(at - MAX_SPAN_S * 1000), at))
}

/// `sensor`'s valid readings from `from_ms` to `at_ms` as `(ms, °C)`, oldest
/// first. A span holding more than the queries may read keeps its start and
/// its end, the middle left out: the end says whether it is still rising.
fn valid_readings(
    read: &mut impl FnMut(&str, i64, usize) -> Result<Vec<StoredReading>, StoreError>,
    sensor: &str,
    from_ms: i64,
    at_ms: i64,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let mut kept: Vec<(i64, f64)> = Vec::new();
    let mut start = from_ms;
    for _ in 0..MAX_QUERIES {
        let got = read(sensor, start, READ_LIMIT)?;
        // A query holds every reading from `start` on (up to the limit), so
        // it replaces what an earlier one read from there.
        kept.retain(|&(ms, _)| ms < start);
        kept.extend(
            got.iter()
                .filter(|r| r.wall.ms <= at_ms)
                .filter_map(|r| r.value.as_ref().ok().map(|&v| (r.wall.ms, v))),
        );
        let (Some(first), Some(last)) = (got.first(), got.last()) else {
            break;
        };
        if got.len() < READ_LIMIT || last.wall.ms >= at_ms {
            break;
        }
        // Aim the next query so that, as dense as this one, it reaches past
        // `at`; it starts after this one's first reading, so it progresses.
        let covered = last.wall.ms - first.wall.ms;
        start = at_ms - covered / 8 * 7;
    }
    Ok(kept)
}

/// Unix milliseconds of an RFC 3339 UTC stamp as `Wall::rfc3339` writes it.
fn rfc3339_ms(s: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339(s).ok()?;
    i64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use edgetherm_proto::Severity;

    use super::*;
    use crate::reading::{Fault, Wall};

    /// 2026-09-21T14:13:20Z.
    const AT: i64 = 1_790_000_000_000;
    const MIN: i64 = 60_000;

    fn stamp(ms: i64) -> String {
        Wall {
            ms,
            unsynced: false,
        }
        .rfc3339()
    }

    fn rule(id: &str, trend: Option<Duration>) -> RuleConfig {
        RuleConfig {
            id: id.into(),
            sensors: vec!["*".into()],
            above: Some(30.0),
            below: None,
            hysteresis: 0.0,
            for_: Duration::ZERO,
            stale: None,
            severity: Severity::Critical,
            repeat: None,
            flap_window: Duration::from_secs(600),
            flap_changes: 6,
            trend,
        }
    }

    fn event(kind: EventKind, rule: Option<&str>, since: Option<i64>) -> Event {
        let mut e = Event::new("01E".into(), kind, Severity::Critical, stamp(AT));
        e.rule = rule.map(str::to_string);
        e.sensor = Some("s".into());
        e.since = since.map(stamp);
        e
    }

    fn readings(list: &[(i64, Result<f64, Fault>)]) -> Vec<StoredReading> {
        list.iter()
            .map(|(ms, v)| StoredReading {
                sensor: "s".into(),
                wall: Wall {
                    ms: *ms,
                    unsynced: false,
                },
                value: v.clone(),
            })
            .collect()
    }

    #[test]
    fn firing_and_stale_reach_back_the_rule_window() {
        let rules = [
            rule("r", Some(DEFAULT_TREND)),
            rule("q", Some(Duration::from_secs(600))),
        ];
        for kind in [EventKind::Firing, EventKind::Stale] {
            let e = event(kind, Some("r"), Some(AT - 5 * 3_600_000));
            assert_eq!(span(&e, &rules), Some((AT - 60 * MIN, AT)), "{kind:?}");
        }
        let e = event(EventKind::Firing, Some("q"), None);
        assert_eq!(span(&e, &rules), Some((AT - 10 * MIN, AT)));
    }

    #[test]
    fn resolved_covers_its_episode_with_a_lead_and_at_least_the_window() {
        let rules = [rule("r", Some(DEFAULT_TREND))];
        let resolved = |since| span(&event(EventKind::Resolved, Some("r"), since), &rules);
        // 5 h episode: 30 min (10 %) before its start.
        assert_eq!(resolved(Some(AT - 300 * MIN)), Some((AT - 330 * MIN, AT)));
        assert_eq!(resolved(Some(AT - 70 * MIN)), Some((AT - 77 * MIN, AT)));
        // A short episode: the window.
        assert_eq!(resolved(Some(AT - 2 * MIN)), Some((AT - 60 * MIN, AT)));
        // Three days: cut to 24 h.
        assert_eq!(
            resolved(Some(AT - 3 * 1440 * MIN)),
            Some((AT - 1440 * MIN, AT))
        );
        assert_eq!(resolved(None), Some((AT - 60 * MIN, AT)));
        // With a 10 min window, a 20 min episode starts 5 min (not 2) early.
        let rules = [rule("r", Some(Duration::from_secs(600)))];
        let e = event(EventKind::Resolved, Some("r"), Some(AT - 20 * MIN));
        assert_eq!(span(&e, &rules), Some((AT - 25 * MIN, AT)));
    }

    #[test]
    fn events_without_a_trend() {
        let rules = [rule("r", Some(DEFAULT_TREND)), rule("quiet", None)];
        assert_eq!(
            span(&event(EventKind::Firing, Some("quiet"), None), &rules),
            None
        );
        assert_eq!(
            span(
                &event(EventKind::Resolved, Some("quiet"), Some(AT - MIN)),
                &rules
            ),
            None
        );
        for kind in [
            EventKind::SensorFault,
            EventKind::Test,
            EventKind::AgentFault,
        ] {
            assert_eq!(span(&event(kind, None, None), &rules), None, "{kind:?}");
        }
        let mut e = event(EventKind::Firing, Some("r"), None);
        e.sensor = None;
        assert_eq!(span(&e, &rules), None);
        e = event(EventKind::Firing, Some("r"), None);
        e.at = "yesterday".into();
        assert_eq!(span(&e, &rules), None);
        // A rule removed from the config: the default.
        let e = event(EventKind::Resolved, Some("gone"), Some(AT - MIN));
        assert_eq!(span(&e, &rules), Some((AT - 60 * MIN, AT)));
    }

    #[test]
    fn faults_and_later_readings_are_left_out() {
        let rules = [rule("r", Some(DEFAULT_TREND))];
        let mut events = vec![event(EventKind::Firing, Some("r"), None)];
        let stored = readings(&[
            (AT - 2_000, Ok(20.0)),
            (AT - 1_000, Err(Fault::Crc)),
            (AT, Ok(31.5)),
            (AT + 1_000, Ok(40.0)),
        ]);
        let mut asked = Vec::new();
        attach_from(
            |sensor, from, limit| {
                asked.push((sensor.to_string(), from, limit));
                Ok(stored.clone())
            },
            &rules,
            &mut events,
        );
        assert_eq!(asked, vec![("s".to_string(), AT - 60 * MIN, READ_LIMIT)]);
        let t = events[0].trend.as_ref().expect("a trend");
        assert_eq!(
            (t.t.as_slice(), t.v.as_slice()),
            (&[-2, 0][..], &[2000, 3150][..])
        );
    }

    #[test]
    fn a_failed_read_leaves_the_event_without_a_trend() {
        let rules = [rule("r", Some(DEFAULT_TREND))];
        let mut events = vec![
            event(EventKind::Firing, Some("r"), None),
            event(EventKind::Stale, Some("r"), None),
        ];
        attach_from(
            |_, _, _| Err(StoreError::Closed("/nowhere".into())),
            &rules,
            &mut events,
        );
        assert!(events.iter().all(|e| e.trend.is_none()));
        // Nothing read (all faults, or none): no trend rather than an empty one.
        attach_from(
            |_, _, _| Ok(readings(&[(AT, Err(Fault::Timeout))])),
            &rules,
            &mut events,
        );
        assert!(events.iter().all(|e| e.trend.is_none()));
    }

    #[test]
    fn a_dense_span_keeps_its_start_and_its_end_within_the_budget() {
        // One reading every 100 ms for an hour (36,000), a spike 2 s before `at`.
        let all: Vec<(i64, f64)> = (0..36_000)
            .map(|i| {
                let ms = AT - 3_600_000 + 100 + i * 100;
                (ms, if ms == AT - 2_000 { 45.0 } else { 20.0 })
            })
            .collect();
        let mut read_total = 0;
        let mut queries = 0;
        let got = valid_readings(
            &mut |_: &str, from: i64, limit: usize| {
                queries += 1;
                let rows: Vec<StoredReading> = all
                    .iter()
                    .filter(|(ms, _)| *ms >= from)
                    .take(limit)
                    .map(|&(ms, v)| StoredReading {
                        sensor: "s".into(),
                        wall: Wall {
                            ms,
                            unsynced: false,
                        },
                        value: Ok(v),
                    })
                    .collect();
                read_total += rows.len();
                Ok(rows)
            },
            "s",
            AT - 3_600_000,
            AT,
        )
        .unwrap();
        assert!(queries <= MAX_QUERIES && read_total <= MAX_QUERIES * READ_LIMIT);
        assert_eq!(got.first().map(|r| r.0), Some(AT - 3_600_000 + 100));
        assert_eq!(got.last().map(|r| r.0), Some(AT), "ends at `at`");
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "in order, once each"
        );
        let t = Trend::from_readings(&got, AT, MAX_POINTS);
        assert!(t.v.contains(&4500), "the spike: {:?}", t.v);
        assert_eq!(t.check(), Ok(()));
    }
}
