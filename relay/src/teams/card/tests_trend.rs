//! The trend chart in the card's JSON (what Teams receives, not pixels).

use edgetherm_proto::trend::{sparkline, Trend, MAX_POINTS};
use edgetherm_proto::{Direction, Event, EventKind, Severity};
use serde_json::Value;

use super::chart::{keep_within, CARD_BUDGET, LINE_CHART, SPARK_BARS};
use super::tests::{check_card, ctx, firing};
use super::*;

/// An hour of readings every 10 s, rising from 25 °C to about 31.4 °C with
/// one spike, thinned as the agent thins it: 58 points (29 slices of two;
/// the newest reading is the last slice's highest).
fn hour_trend() -> Trend {
    let at_ms = 3_600_000;
    let readings: Vec<(i64, f64)> = (0..360)
        .map(|i| {
            let v = if i == 200 {
                33.75
            } else {
                25.0 + f64::from(i) * 0.0178
            };
            (i64::from(i) * 10_000 + 10_000, v)
        })
        .collect();
    let t = Trend::from_readings(&readings, at_ms, MAX_POINTS);
    assert_eq!(t.t.len(), MAX_POINTS - 2);
    t
}

/// `hour_trend` with two more, earlier points: as many as a trend may have.
fn full_trend() -> Trend {
    let mut t = hour_trend();
    t.t.splice(0..0, [-3600, -3595]);
    t.v.splice(0..0, [2500, 2500]);
    assert_eq!(t.t.len(), MAX_POINTS);
    t
}

fn with_trend(mut e: Event, t: Trend) -> Event {
    e.trend = Some(t);
    e
}

/// The card's chart elements.
fn charts(card: &Value) -> Vec<&Value> {
    card["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|el| el["type"] == LINE_CHART)
        .collect()
}

fn xs(series: &Value) -> Vec<f64> {
    let values = series["values"].as_array().unwrap();
    values.iter().map(|p| p["x"].as_f64().unwrap()).collect()
}

fn ys(series: &Value) -> Vec<f64> {
    let values = series["values"].as_array().unwrap();
    values.iter().map(|p| p["y"].as_f64().unwrap()).collect()
}

fn activity_size(card: &Value, e: &Event) -> usize {
    let a = card_activity(card.clone(), &alert_summary(e, &ctx()), Some("tenant-1"));
    serde_json::to_vec(&a).unwrap().len()
}

/// Element types of Adaptive Cards 1.5 that the cards use.
const V1_5: &[&str] = &["Container", "TextBlock", "FactSet"];

#[test]
fn a_firing_card_draws_the_readings_and_the_threshold() {
    let trend = hour_trend();
    let e = with_trend(firing(), trend.clone());
    let card = alert_card(&e, &ctx());
    check_card(&card);
    let found = charts(&card);
    assert_eq!(found.len(), 1, "{card}");
    let chart = found[0];
    assert_eq!(chart["title"], "Last 1 h");
    assert_eq!(chart["xAxisTitle"], "Minutes before this alert");
    assert_eq!(chart["yAxisTitle"], "°C");

    let data = chart["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "sensor and threshold: {chart}");
    let (sensor, threshold) = (&data[0], &data[1]);
    assert_eq!(sensor["legend"], "Rack 1 inlet");
    assert_eq!(threshold["legend"], "Threshold 30.0 °C");
    // Round bounds around readings and threshold, not an axis from 0.
    assert_eq!(
        (chart["yMin"].as_f64(), chart["yMax"].as_f64()),
        (Some(24.0), Some(34.0))
    );
    assert_eq!(threshold["color"], "attention");

    // The readings in °C, at minutes before `at`, oldest first.
    let celsius: Vec<f64> = trend.v.iter().map(|&v| f64::from(v) / 100.0).collect();
    assert_eq!(ys(sensor), celsius);
    assert!(ys(sensor).contains(&33.75), "the spike is drawn");
    let x = xs(sensor);
    assert_eq!(x.len(), trend.t.len());
    assert_eq!(trend.t[0], -3590);
    assert_eq!(x[0], -59.83, "seconds to minutes, 2 decimals");
    assert_eq!(*x.last().unwrap(), 0.0);
    assert!(x.windows(2).all(|w| w[0] <= w[1]), "{x:?}");
    assert!(x.iter().all(|x| (-60.0..=0.0).contains(x)), "{x:?}");

    // The threshold: flat, across the same x.
    assert_eq!(xs(threshold), x);
    assert_eq!(ys(threshold), vec![30.0; trend.t.len()]);

    // Where the chart sits: after the facts, before the times.
    let body = card["body"].as_array().unwrap();
    assert_eq!(body[1]["type"], "FactSet");
    assert_eq!(body[2]["type"], LINE_CHART);
    assert!(body[3]["text"].as_str().unwrap().starts_with("Since"));
}

#[test]
fn the_fallback_has_the_sparkline_and_min_max_now() {
    let trend = hour_trend();
    let card = alert_card(&with_trend(firing(), trend.clone()), &ctx());
    let fallback = &charts(&card)[0]["fallback"];
    assert_eq!(fallback["type"], "Container");
    let (bars, figures) = (&fallback["items"][0], &fallback["items"][1]);
    assert_eq!(bars["type"], "TextBlock");
    assert_eq!(bars["fontType"], "Monospace");
    assert_ne!(bars["wrap"], true, "one line of bars");
    let celsius: Vec<f64> = trend.celsius().collect();
    let spark = sparkline(&celsius, SPARK_BARS);
    assert_eq!(spark.chars().count(), SPARK_BARS);
    assert_eq!(bars["text"], spark.as_str());
    assert_eq!(figures["wrap"], true);
    let last = celsius.last().unwrap();
    assert_eq!(
        figures["text"],
        format!("min 25.0 · max 33.8 · now {last:.1} °C · threshold 30.0 °C (1 h)")
    );
}

#[test]
fn a_sixty_point_trend_fits_with_room_to_spare() {
    let e = with_trend(firing(), full_trend());
    let card = alert_card(&e, &ctx());
    let with = activity_size(&card, &e);
    let without = activity_size(&alert_card(&firing(), &ctx()), &firing());
    let chart = serde_json::to_vec(charts(&card)[0]).unwrap().len();
    eprintln!("activity {with} bytes with a 60-point trend ({without} without; chart {chart})");
    assert!(with < MAX_MESSAGE_BYTES / 4, "{with} bytes");
    assert!(chart < 4 * 1024, "{chart} bytes");

    // The worst a gateway can send (every string at its clip, in 4-byte
    // characters and escapes) still leaves the chart in, under the limit.
    let huge = "\u{1}\"\\😀".repeat(20_000);
    let mut e = e;
    for s in [
        &mut e.sensor,
        &mut e.sensor_name,
        &mut e.rule,
        &mut e.detail,
    ] {
        *s = Some(huge.clone());
    }
    let c = CardContext {
        gateway: &huge,
        site: Some(&huge),
        acknowledged_by: Some(&huge),
        muted_until: None,
    };
    let card = alert_card(&e, &c);
    check_card(&card);
    assert_eq!(charts(&card).len(), 1);
    let a = card_activity(card, &alert_summary(&e, &c), Some("tenant-1"));
    let size = serde_json::to_vec(&a).unwrap().len();
    eprintln!("hostile activity {size} bytes with a 60-point trend");
    assert!(size < CARD_BUDGET, "{size} bytes");
}

#[test]
fn a_card_that_would_be_too_large_keeps_the_fallback_instead() {
    let mut card = alert_card(&with_trend(firing(), hour_trend()), &ctx());
    let fallback = charts(&card)[0]["fallback"].clone();
    let before = card["body"].as_array().unwrap().len();
    keep_within(&mut card, 1000);
    assert!(charts(&card).is_empty());
    let body = card["body"].as_array().unwrap();
    assert_eq!(body.len(), before);
    assert_eq!(body[2], fallback);
    check_card(&card);
}

#[test]
fn without_a_trend_the_card_is_unchanged() {
    let plain = alert_card(&firing(), &ctx());
    assert!(charts(&plain).is_empty());
    assert!(!plain.to_string().contains("Chart."));
    // The same card as with a trend, less the chart.
    let mut charted = alert_card(&with_trend(firing(), hour_trend()), &ctx());
    charted["body"]
        .as_array_mut()
        .unwrap()
        .retain(|el| el["type"] != LINE_CHART);
    assert_eq!(charted, plain);
    // An empty trend draws nothing either.
    let empty = Trend {
        t: vec![],
        v: vec![],
    };
    assert_eq!(alert_card(&with_trend(firing(), empty), &ctx()), plain);
}

#[test]
fn the_card_stays_version_1_5_apart_from_the_chart() {
    let card = alert_card(&with_trend(firing(), hour_trend()), &ctx());
    check_card(&card);
    assert_eq!(card["version"], "1.5");
    fn walk(el: &Value, out: &mut Vec<String>) {
        if let Some(t) = el["type"].as_str() {
            out.push(t.to_string());
        }
        for key in ["items", "fallback"] {
            match &el[key] {
                Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
                v @ Value::Object(_) => walk(v, out),
                _ => {}
            }
        }
    }
    let mut types = Vec::new();
    card["body"]
        .as_array()
        .unwrap()
        .iter()
        .for_each(|el| walk(el, &mut types));
    let beyond: Vec<&String> = types
        .iter()
        .filter(|t| !V1_5.contains(&t.as_str()))
        .collect();
    assert_eq!(beyond, vec![LINE_CHART], "{types:?}");
}

#[test]
fn the_resolved_card_shows_the_trend_it_carries() {
    // A 3 h 20 min episode, a point every 200 s: its axis counts hours.
    let episode = Trend {
        t: (0..60).map(|i| -11_800 + i * 200).collect(),
        v: (0..60).map(|i| 3300 - i * 10).collect(),
    };
    let mut e = with_trend(firing(), hour_trend());
    e.id = "01JD3X0Q9W8M1K7V5R2T6Y4ZZZ".into();
    e.kind = EventKind::Resolved;
    e.value = Some(27.1);
    e.trend = Some(episode.clone());
    let card = alert_card(&e, &ctx());
    check_card(&card);
    let found = charts(&card);
    assert_eq!(found.len(), 1);
    let chart = found[0];
    assert_eq!(chart["title"], "The episode (3 h 17 min)");
    assert_eq!(chart["xAxisTitle"], "Hours before it resolved");
    let data = chart["data"].as_array().unwrap();
    let sensor_x = xs(&data[0]);
    assert_eq!(ys(&data[0]).len(), 60);
    assert_eq!(ys(&data[0])[0], 33.0);
    assert_eq!(*ys(&data[0]).last().unwrap(), 27.1);
    assert_eq!(sensor_x[0], -3.278, "seconds to hours, 3 decimals");
    assert_eq!(*sensor_x.last().unwrap(), 0.0);
    assert_eq!(xs(&data[1]), sensor_x);
    let text = chart["fallback"]["items"][1]["text"].as_str().unwrap();
    assert!(
        text.ends_with("min 27.1 · max 33.0 · now 27.1 °C · threshold 30.0 °C (3 h 17 min)"),
        "{text}"
    );
}

#[test]
fn a_stale_card_without_threshold_draws_one_series_up_to_the_last_reading() {
    let mut e = firing();
    e.kind = EventKind::Stale;
    e.threshold = None;
    e.direction = None;
    e.trend = Some(Trend {
        t: vec![-900, -600, -300],
        v: vec![-1812, -1790, -1805],
    });
    let card = alert_card(&e, &ctx());
    check_card(&card);
    let chart = charts(&card)[0];
    let data = chart["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "no threshold to draw");
    assert_eq!(xs(&data[0]), vec![-15.0, -10.0, -5.0]);
    assert_eq!(ys(&data[0]), vec![-18.12, -17.9, -18.05]);
    let text = chart["fallback"]["items"][1]["text"].as_str().unwrap();
    assert!(
        text.ends_with("min -18.1 · max -17.9 · last -18.1 °C (15 min)"),
        "{text}"
    );
}

#[test]
fn other_kinds_and_unusable_trends_draw_nothing() {
    let mut fault = with_trend(firing(), hour_trend());
    fault.kind = EventKind::SensorFault;
    fault.severity = Severity::Warning;
    assert!(charts(&alert_card(&fault, &ctx())).is_empty());

    let bad = Trend {
        t: vec![-60, 0],
        v: vec![1],
    };
    assert!(charts(&alert_card(&with_trend(firing(), bad), &ctx())).is_empty());
}

#[test]
fn the_axis_ends_at_zero_not_minus_zero() {
    let mut e = firing();
    e.direction = Some(Direction::Below);
    e.threshold = Some(-18.0);
    e.trend = Some(Trend {
        t: vec![-20_000, -1],
        v: vec![-1700, -1850],
    });
    let card = alert_card(&e, &ctx());
    let s = charts(&card)[0].to_string();
    assert!(!s.contains("-0.0"), "{s}");
    assert!(s.contains("Threshold -18.0 °C"), "{s}");
}

#[test]
fn the_y_axis_spans_round_values_around_the_curve() {
    // Five steps of a round size, so each of the renderer's five
    // intervals ends on a round label.
    let five = |lo: f64, hi: f64, step: f64| ((hi - lo) / step - 5.0).abs() < 1e-9;
    let mut t = hour_trend();
    // A freezer: -18.7 to -9.95 °C, threshold -15.
    t.v = t.v.iter().map(|&v| v - 4370).collect();
    let mut e = with_trend(firing(), t.clone());
    e.threshold = Some(-15.0);
    let card = alert_card(&e, &ctx());
    let chart = charts(&card)[0];
    let (lo, hi) = (
        chart["yMin"].as_f64().unwrap(),
        chart["yMax"].as_f64().unwrap(),
    );
    let values: Vec<f64> = t.celsius().collect();
    assert!(values.iter().all(|v| (lo..=hi).contains(v)), "{lo}..{hi}");
    assert!(
        hi <= 0.0,
        "no axis up to 0 for readings far below it: {lo}..{hi}"
    );
    assert!((lo..=hi).contains(&-15.0));
    assert_eq!((lo, hi), (-20.0, -7.5), "five steps of 2.5 °C");
    assert!(five(lo, hi, 2.5));

    // A narrower curve is padded to five steps, more above than below.
    let mut narrow = e.clone();
    narrow.trend = Some(Trend {
        t: vec![-120, -60, 0],
        v: vec![-1870, -1800, -1760],
    });
    let card = alert_card(&narrow, &ctx());
    let chart = charts(&card)[0];
    let bounds = (
        chart["yMin"].as_f64().unwrap(),
        chart["yMax"].as_f64().unwrap(),
    );
    assert_eq!(bounds, (-19.0, -14.0), "five steps of 1 °C");
}
