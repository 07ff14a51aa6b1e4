use std::time::Duration;

use edgetherm_proto::{Direction, Event, EventKind, Severity};

use super::*;

pub(super) fn firing() -> Event {
    Event {
        id: "01JD3X0Q9W8M1K7V5R2T6Y4ZBN".into(),
        kind: EventKind::Firing,
        alert: Some("01JD3X0Q9W8M1K7V5R2T6Y4ZBN".into()),
        rule: Some("rack-inlet-high".into()),
        sensor: Some("rack1-inlet".into()),
        sensor_name: Some("Rack 1 inlet".into()),
        severity: Severity::Critical,
        value: Some(31.4),
        threshold: Some(30.0),
        direction: Some(Direction::Above),
        since: Some("2026-11-21T09:58:01Z".into()),
        at: "2026-11-21T10:00:01Z".into(),
        detail: None,
        clock_unsynced: false,
        trend: None,
    }
}

pub(super) fn ctx() -> CardContext<'static> {
    CardContext {
        gateway: "dc1-gw01",
        site: Some("Datacenter 1"),
        acknowledged_by: None,
        muted_until: None,
    }
}

/// The structure every card must have.
pub(super) fn check_card(card: &Value) {
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.5");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    let body = card["body"].as_array().expect("body");
    assert!(!body.is_empty());
    for el in body {
        assert!(el["type"].is_string(), "element without type: {el}");
    }
    let actions = card["actions"].as_array().expect("actions");
    for a in actions {
        let t = a["type"].as_str().unwrap();
        assert!(t == "Action.Execute" || t == "Action.Submit", "{t}");
        assert!(a["title"].is_string());
        if t == "Action.Execute" {
            assert!(a["verb"].is_string());
            assert_eq!(a["fallback"]["type"], "Action.Submit");
            assert_eq!(a["fallback"]["data"], a["data"]);
        }
    }
    assert!(card["fallbackText"].is_string());
    let size = serde_json::to_vec(&card_activity(card.clone(), "s", Some("t")))
        .unwrap()
        .len();
    assert!(size < MAX_MESSAGE_BYTES, "card is {size} bytes");
}

fn all_text(card: &Value) -> String {
    card.to_string()
}

fn action<'a>(card: &'a Value, verb: &str) -> Option<&'a Value> {
    card["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["verb"] == verb)
}

#[test]
fn firing_card_says_what_where_and_offers_actions() {
    let card = alert_card(&firing(), &ctx());
    check_card(&card);
    let t = all_text(&card);
    assert!(t.contains("🔥 Rack 1 inlet is above 30.0 °C"), "{t}");
    assert!(t.contains("31.4 °C"));
    assert!(t.contains("above 30.0 °C"));
    assert!(t.contains("Datacenter 1"));
    assert!(t.contains("dc1-gw01"));
    assert!(t.contains("Rack 1 inlet (rack1-inlet)"));
    assert!(t.contains("{{DATE(2026-11-21T09:58:01Z, SHORT)}}"));
    assert!(t.contains("unsubscribe"));
    assert_eq!(card["body"][0]["style"], "attention");
    let ack = action(&card, "ack").expect("ack action");
    assert_eq!(ack["type"], "Action.Execute");
    assert_eq!(
        ack["data"],
        json!({"action": "ack", "alert": "01JD3X0Q9W8M1K7V5R2T6Y4ZBN"})
    );
    let mute = action(&card, "mute").expect("mute action");
    assert_eq!(
        mute["data"],
        json!({"action": "mute", "pattern": "dc1-gw01/rack1-inlet", "duration": "1h"})
    );
    assert!(!t.contains("estimates"));
}

#[test]
fn severity_styles_and_below() {
    let mut e = firing();
    e.severity = Severity::Warning;
    e.direction = Some(Direction::Below);
    e.threshold = Some(-18.0);
    e.value = Some(-12.25);
    let card = alert_card(&e, &ctx());
    check_card(&card);
    assert_eq!(card["body"][0]["style"], "warning");
    let t = all_text(&card);
    assert!(t.contains("is below -18.0 °C"), "{t}");
    assert!(t.contains("-12.2 °C") || t.contains("-12.3 °C"));
    e.severity = Severity::Info;
    assert_eq!(alert_card(&e, &ctx())["body"][0]["style"], "emphasis");
}

#[test]
fn resolved_card_has_no_ack_and_shows_duration() {
    let mut e = firing();
    e.id = "01JD3X0Q9W8M1K7V5R2T6Y4ZZZ".into();
    e.kind = EventKind::Resolved;
    e.value = Some(28.9);
    e.at = "2026-11-21T10:10:01Z".into();
    e.detail = Some("back to 28.9 °C after 12m".into());
    let card = alert_card(&e, &ctx());
    check_card(&card);
    assert!(action(&card, "ack").is_none());
    let t = all_text(&card);
    assert!(t.contains("✅ Resolved"), "{t}");
    assert!(t.contains("lasted 12 min"), "{t}");
    assert!(t.contains("28.9 °C"));
    assert_eq!(card["body"][0]["style"], "good");
    // Same layout as the alert card: the same facts in the same places.
    let alert = alert_card(&firing(), &ctx());
    assert_eq!(card["body"][1]["type"], alert["body"][1]["type"]);
}

#[test]
fn acknowledged_and_muted() {
    let c = CardContext {
        acknowledged_by: Some("Alice Example"),
        muted_until: Some("2026-11-21T11:00:00Z"),
        ..ctx()
    };
    let card = alert_card(&firing(), &c);
    check_card(&card);
    let t = all_text(&card);
    assert!(t.contains("Acknowledged by Alice Example"));
    assert!(t.contains("Muted until {{DATE(2026-11-21T11:00:00Z, SHORT)}}"));
    assert!(action(&card, "ack").is_none());
    assert!(action(&card, "mute").is_some());
}

#[test]
fn stale_fault_test_and_agent_fault() {
    let mut e = firing();
    e.kind = EventKind::Stale;
    e.sensor_name = Some("Freezer".into());
    e.threshold = None;
    e.direction = None;
    e.since = Some("2026-11-21T09:55:01Z".into());
    e.clock_unsynced = true;
    let card = alert_card(&e, &ctx());
    check_card(&card);
    let t = all_text(&card);
    assert!(t.contains("Freezer has not reported for 5 min"), "{t}");
    assert!(t.contains("Last value"));
    assert!(t.contains("estimates"));

    let mut f = firing();
    f.kind = EventKind::SensorFault;
    f.alert = None;
    f.rule = None;
    f.value = None;
    f.threshold = None;
    f.direction = None;
    f.since = None;
    f.severity = Severity::Warning;
    f.detail = Some("CRC mismatch on 28-00000a1b2c3d".into());
    let card = alert_card(&f, &ctx());
    check_card(&card);
    assert!(all_text(&card).contains("Sensor fault: CRC mismatch on 28-00000a1b2c3d"));
    // A one-off event is acknowledged by its own id.
    assert_eq!(
        action(&card, "ack").unwrap()["data"]["alert"],
        f.id.as_str()
    );

    let mut t = f.clone();
    t.kind = EventKind::Test;
    t.sensor = None;
    t.sensor_name = None;
    t.severity = Severity::Info;
    t.detail = Some("test alert from gateway dc1-gw01".into());
    let card = alert_card(&t, &ctx());
    check_card(&card);
    assert!(all_text(&card).contains("🧪 Test alert from dc1-gw01"));
    assert!(action(&card, "mute").is_none());

    let mut a = t.clone();
    a.kind = EventKind::AgentFault;
    a.severity = Severity::Warning;
    a.detail = Some("the local store was damaged".into());
    let card = alert_card(&a, &ctx());
    check_card(&card);
    assert!(all_text(&card).contains("agent on dc1-gw01 needs attention"));
    assert_eq!(
        action(&card, "mute").unwrap()["data"]["pattern"],
        "dc1-gw01/*"
    );
}

#[test]
fn hostile_sizes_stay_under_the_limit_and_escape() {
    let huge = "\u{1}\"\\😀".repeat(20_000);
    let mut e = firing();
    e.sensor = Some(huge.clone());
    e.sensor_name = Some(huge.clone());
    e.rule = Some(huge.clone());
    e.detail = Some(huge.clone());
    e.since = Some(huge.clone());
    e.at = huge.clone();
    e.alert = Some(huge.clone());
    let c = CardContext {
        gateway: &huge,
        site: Some(&huge),
        acknowledged_by: None,
        muted_until: Some(&huge),
    };
    for kind in [
        EventKind::Firing,
        EventKind::Resolved,
        EventKind::SensorFault,
    ] {
        e.kind = kind;
        let card = alert_card(&e, &c);
        check_card(&card);
        // A pattern longer than commands accept, or an episode id that
        // is not one, gets no button.
        assert!(action(&card, "mute").is_none());
        assert!(action(&card, "ack").is_none());
        // Valid JSON, round-trips.
        let s = serde_json::to_string(&card).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), card);
        assert!(!s.contains('\u{1}'));
    }
    let values: Vec<(String, Option<f64>)> = (0..500)
        .map(|i| {
            (
                huge.chars().take(400).collect::<String>() + &i.to_string(),
                Some(1.0),
            )
        })
        .collect();
    let card = silent_gateway_card(&huge, Some(&huge), &huge, &values, None);
    check_card(&card);
    assert!(all_text(&card).contains("and 475 more"));
}

#[test]
fn silent_gateway_and_resolved() {
    let values = vec![
        ("rack1-inlet".to_string(), Some(24.06)),
        ("freezer".to_string(), None),
    ];
    let card = silent_gateway_card(
        "dc1-gw01",
        Some("Datacenter 1"),
        "2026-11-21T10:00:00Z",
        &values,
        None,
    );
    check_card(&card);
    let t = all_text(&card);
    assert!(t.contains("Gateway dc1-gw01 has not reported since"), "{t}");
    assert!(t.contains("24.1 °C"));
    assert!(t.contains("no value"));
    assert_eq!(
        action(&card, "mute").unwrap()["data"]["pattern"],
        "dc1-gw01/*"
    );
    let done = silent_gateway_card(
        "dc1-gw01",
        Some("Datacenter 1"),
        "2026-11-21T10:00:00Z",
        &values,
        Some("2026-11-21T10:07:00Z"),
    );
    check_card(&done);
    let t = all_text(&done);
    assert!(t.contains("✅ Resolved"));
    assert!(t.contains("(7 min)"), "{t}");
    assert!(done["actions"].as_array().unwrap().is_empty());
    assert!(
        silent_gateway_summary("dc1-gw01", None, "2026-11-21T10:00:00Z", None)
            .contains("2026-11-21T10:00:00Z")
    );
}

#[test]
fn activities() {
    let card = alert_card(&firing(), &ctx());
    let summary = alert_summary(&firing(), &ctx());
    assert!(summary.contains("Rack 1 inlet is above 30.0 °C (now 31.4 °C)"));
    assert!(summary.contains("Datacenter 1, dc1-gw01"));
    let a = card_activity(card.clone(), &summary, Some("tenant-1"));
    assert_eq!(a["type"], "message");
    assert_eq!(a["summary"], summary.as_str());
    assert_eq!(a["attachments"][0]["contentType"], ADAPTIVE_CARD);
    assert_eq!(a["attachments"][0]["content"], card);
    assert_eq!(a["channelData"]["tenant"]["id"], "tenant-1");
    assert!(card_activity(card, "x", None).get("channelData").is_none());

    let t = text_activity("hi \"there\"", Some("tenant-1"));
    assert_eq!(t["type"], "message");
    assert_eq!(t["text"], "hi \"there\"");
    assert_eq!(t["channelData"]["tenant"]["id"], "tenant-1");
    assert!(text_activity("hi", None).get("channelData").is_none());
}

#[test]
fn welcome_says_why_what_and_how_to_stop() {
    let w = welcome_text();
    assert!(w.contains("Why"));
    assert!(w.contains("help"));
    assert!(w.contains("subscribe"));
    assert!(w.contains("unsubscribe"));
}

#[test]
fn durations_are_rounded_for_people() {
    let ms = Duration::from_millis;
    assert_eq!(human_duration(ms(120)), "under 1 s");
    assert_eq!(human_duration(ms(4_300)), "4 s");
    assert_eq!(human_duration(ms(4_600)), "5 s");
    assert_eq!(human_duration(ms(59_700)), "1 min");
    assert_eq!(human_duration(ms(12 * 60_000 + 29_000)), "12 min");
    assert_eq!(human_duration(ms(12 * 60_000 + 31_000)), "13 min");
    assert_eq!(human_duration(ms(59 * 60_000 + 45_000)), "1 h");
    assert_eq!(human_duration(ms(7_500_000)), "2 h 5 min");
    assert_eq!(human_duration(ms(7_200_000)), "2 h");
    assert_eq!(human_duration(Duration::from_secs(86_400 * 3)), "3 d");
    assert_eq!(
        human_duration(Duration::from_secs(86_400 + 3600 * 4 + 1700)),
        "1 d 4 h"
    );
    assert_eq!(human_duration(Duration::from_secs(86_400 * 2 - 60)), "2 d");
}
