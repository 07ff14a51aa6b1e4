//! The trend chart on an alert card: a `Chart.Line` of the sensor's recent
//! readings, the threshold as a second, flat series, and a text sparkline
//! with min / max / now and the threshold as its `fallback`.
//!
//! `Chart.Line` is a Teams element beyond Adaptive Cards 1.5 (Microsoft
//! Learn, "Charts in Adaptive Cards"). The card stays version 1.5: a client
//! that does not know the element renders its fallback instead, as the
//! schema's `fallback` promises, so the rest of the card needs nothing newer.

use std::time::Duration;

use edgetherm_proto::trend::{sparkline, Trend};
use edgetherm_proto::{Event, EventKind};
use serde_json::{json, Value};

use super::text::{clip, human_duration};
use super::MAX_MESSAGE_BYTES;

/// The element type Teams draws as a line chart.
pub(super) const LINE_CHART: &str = "Chart.Line";

/// The most a card may weigh with its chart. The activity around the card
/// adds the summary (at most 300 characters) and a little envelope, and
/// Teams counts the whole activity against its limit.
pub(super) const CARD_BUDGET: usize = MAX_MESSAGE_BYTES - 4 * 1024;

/// Bars in the fallback's sparkline: 24 monospace bars fit on one line of a
/// phone-width card (30 wrapped their last bars onto a second line in the
/// Agents Playground at 390 px).
pub(super) const SPARK_BARS: usize = 24;

/// Longer spans are counted in hours: an axis from -1440 to 0 minutes reads
/// worse than one from -24 to 0 hours.
const MINUTES_UP_TO_S: i64 = 3 * 3600;

/// A legend is a label: the facts carry the sensor's name in full.
const MAX_LEGEND: usize = 60;

/// The chart for an event's trend (firing, stale or resolved, the kinds
/// docs/wire.md lets carry one), or None when there is nothing to draw.
pub(super) fn trend_chart(e: &Event, subject: &str) -> Option<Value> {
    if !matches!(
        e.kind,
        EventKind::Firing | EventKind::Stale | EventKind::Resolved
    ) {
        return None;
    }
    // The API drops unusable trends; this guards events queued some other way.
    let trend = e
        .trend
        .as_ref()
        .filter(|t| !t.is_empty() && t.check().is_ok())?;
    let resolved = e.kind == EventKind::Resolved;
    let span = Duration::from_secs(u64::from(trend.t[0].unsigned_abs()));

    // x is a number, the time relative to the event's `at`, not a clock
    // time. The points are unevenly spaced (two per slice, and gaps where a
    // sensor was silent): the schema takes a number or a string, but leaves
    // what a host makes of a string open (a category, evenly spaced, or
    // maybe a date), while numbers keep the distances true. A clock time
    // would also be in the relay's time zone, not the reader's (TIME() is
    // for TextBlocks only); "-45" minutes needs none.
    let (unit, seconds_per, scale) = if i64::from(trend.t[0]).abs() <= MINUTES_UP_TO_S {
        ("Minutes", 60.0, 100.0)
    } else {
        ("Hours", 3600.0, 1000.0)
    };
    // Adding 0.0 turns a rounded -0.0 into 0.0, so the axis ends at "0".
    let xs: Vec<f64> = trend
        .t
        .iter()
        .map(|&t| (f64::from(t) / seconds_per * scale).round() / scale + 0.0)
        .collect();
    let celsius: Vec<f64> = trend.celsius().collect();

    let mut data = vec![json!({
        "legend": clip(subject, MAX_LEGEND),
        "color": "categoricalBlue",
        "values": points(&xs, celsius.iter().copied()),
    })];
    let threshold = e
        .threshold
        .filter(|t| t.is_finite())
        .map(|t| (t * 100.0).round() / 100.0);
    if let Some(t) = threshold {
        // Short: at phone width a longer legend folds into "+1 item" and
        // leaves the red line unlabelled (seen in the Agents Playground).
        let legend = format!("Threshold {t:.1} °C");
        // As many points as the readings, at the same x: a host that spaces
        // points by index rather than value still draws it across the chart.
        data.push(json!({
            "legend": legend,
            "color": "attention",
            "values": points(&xs, std::iter::repeat(t)),
        }));
    }

    let title = if resolved {
        format!("The episode ({})", human_duration(span))
    } else {
        format!("Last {}", human_duration(span))
    };
    let x_title = if resolved {
        format!("{unit} before it resolved")
    } else {
        format!("{unit} before this alert")
    };
    let (y_min, y_max) = y_bounds(celsius.iter().copied().chain(threshold));
    Some(json!({
        "type": LINE_CHART,
        "title": title,
        "xAxisTitle": x_title,
        "yAxisTitle": "°C",
        "yMin": y_min,
        "yMax": y_max,
        "data": data,
        "fallback": fallback(trend, e.kind == EventKind::Stale, threshold, span),
    }))
}

/// Round bounds for the y axis, exactly five steps of 0.1, 0.2, 0.5, 1, 2,
/// 2.5, 5, 10... °C apart, around the readings and the threshold. Left to
/// itself the renderer starts the axis at 0: readings at -18 °C were
/// squeezed into the bottom third under labels like -4.68 and -9.37. It
/// draws five intervals, so five steps make every label a round number.
fn y_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let round = |v: f64| (v * 100.0).round() / 100.0 + 0.0;
    for step in [
        0.1, 0.2, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0,
    ] {
        let a = (lo / step).floor() * step;
        let mut b = (hi / step).ceil() * step;
        if b - a < step / 2.0 {
            b = a + step;
        }
        let steps = ((b - a) / step).round();
        if steps <= 5.0 {
            // Pad to five steps, above first: room over the curve's top.
            let above = ((5.0 - steps) / 2.0).ceil();
            let below = 5.0 - steps - above;
            return (round(a - below * step), round(b + above * step));
        }
    }
    (lo.floor(), hi.ceil())
}

fn points(xs: &[f64], ys: impl Iterator<Item = f64>) -> Vec<Value> {
    xs.iter()
        .zip(ys)
        .map(|(x, y)| json!({"x": x, "y": y}))
        .collect()
}

/// For clients that draw no charts: the curve as a line of bars, then
/// "min -18.2 · max -14.5 · now -14.5 °C · threshold -15.0 °C (1 h)".
fn fallback(trend: &Trend, stale: bool, threshold: Option<f64>, span: Duration) -> Value {
    let values: Vec<f64> = trend.celsius().collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let last = values.last().copied().unwrap_or(f64::NAN);
    // A stale sensor's last reading is not its value now.
    let last_label = if stale { "last" } else { "now" };
    let threshold = threshold.map_or(String::new(), |t| format!(" · threshold {t:.1} °C"));
    let figures = format!(
        "min {lo:.1} · max {hi:.1} · {last_label} {last:.1} °C{threshold} ({})",
        human_duration(span)
    );
    json!({
        "type": "Container",
        "items": [
            {
                "type": "TextBlock",
                "text": sparkline(&values, SPARK_BARS),
                "fontType": "Monospace",
            },
            {
                "type": "TextBlock",
                "text": figures,
                "size": "Small",
                "isSubtle": true,
                "wrap": true,
                "spacing": "None",
            },
        ],
    })
}

/// Replaces the card's charts with their fallbacks when the card would
/// weigh more than `budget` bytes: the alert matters more than its curve.
pub(super) fn keep_within(card: &mut Value, budget: usize) {
    let size = serde_json::to_vec(&*card).map_or(usize::MAX, |v| v.len());
    if size <= budget {
        return;
    }
    if let Some(body) = card.get_mut("body").and_then(Value::as_array_mut) {
        body.retain_mut(|el| {
            if el["type"] != LINE_CHART {
                return true;
            }
            *el = el["fallback"].take();
            el.is_object()
        });
    }
}
