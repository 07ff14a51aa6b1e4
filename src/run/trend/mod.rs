//! The trend an alert event carries (docs/wire.md, `trend`): its sensor's
//! readings before the event, taken when the event is saved, so that the
//! trend is committed with the event and survives a restart. They come from
//! the sensor's line in memory (`book`) where it has them, else from the store.

mod book;

pub use book::Book;

use std::time::UNIX_EPOCH;

use edgetherm_proto::trend::{Trend, MAX_POINTS, MAX_SPAN_S};
use edgetherm_proto::{Event, EventKind};

use crate::config::{RuleConfig, DEFAULT_TREND};
use crate::store::{valid_span, SpanBudget, Store, StoreError, StoredReading};

/// What one event's trend may read from the store: 3 queries of 2,000. A
/// 24 h episode of a sensor read every 100 ms holds 864,000 readings, and
/// the alert must not wait for them.
const BUDGET: SpanBudget = SpanBudget {
    limit: 2_000,
    queries: 3,
};

/// A resolved trend starts at least this long before its episode, so the
/// card shows where the value came from before it crossed.
const MIN_LEAD_MS: i64 = 5 * 60_000;

/// Gives every `firing`, `stale` and `resolved` event about a sensor its
/// trend, unless its rule says `trend = "off"`. Never fails: an event whose
/// readings cannot be read goes without a trend, and a warning says why.
pub fn attach(store: &Store, book: Option<&Book>, rules: &[RuleConfig], events: &mut [Event]) {
    attach_from(
        |sensor, from, limit| store.readings_since(sensor, from, limit),
        book,
        rules,
        events,
    );
}

/// Adds a valid reading to `book`, as it is stored. A sensor's first one
/// reads what the store holds of its window before it, once.
pub fn note(book: &mut Book, store: &Store, rules: &[RuleConfig], sensor: &str, ms: i64, v: f64) {
    book.add(rules, sensor, ms, v, |from_ms| {
        store.valid_span(sensor, from_ms, ms, BUDGET).ok()
    });
}

/// [`attach`], reading through `read` (`Store::readings_since`'s shape).
pub fn attach_from(
    mut read: impl FnMut(&str, i64, usize) -> Result<Vec<StoredReading>, StoreError>,
    book: Option<&Book>,
    rules: &[RuleConfig],
    events: &mut [Event],
) {
    for e in events.iter_mut() {
        let (Some((from_ms, at_ms)), Some(sensor)) = (span(e, rules), e.sensor.as_deref()) else {
            continue;
        };
        let kept = book.and_then(|b| b.points(sensor, from_ms, at_ms));
        let readings = match kept {
            Some(mut points) => {
                // A bucket keeps its lowest and highest reading; the one that
                // fired or resolved the alert must end the curve all the same.
                if let (EventKind::Firing | EventKind::Resolved, Some(v)) = (e.kind, e.value) {
                    points.retain(|&(ms, _)| ms < at_ms);
                    points.push((at_ms, v));
                }
                Ok(points)
            }
            None => valid_span(&mut read, sensor, from_ms, at_ms, BUDGET),
        };
        match readings {
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

/// Unix milliseconds of an RFC 3339 UTC stamp as `Wall::rfc3339` writes it.
fn rfc3339_ms(s: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339(s).ok()?;
    i64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()
}

#[cfg(test)]
mod tests;
