//! The happy path and the wire format: a threshold crossing reaches the
//! relay as `firing` then `resolved` with every field DESIGN.md names and
//! the sensor's trend (docs/wire.md), the bearer token comes from
//! `token_file` (re-read on every attempt), `status` shows the outbox
//! drained and the uplink `ok`; with nothing to send, heartbeat-only batches
//! go about every `heartbeat`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{now_ms, rfc3339_ms, PATIENCE};
use crate::fake_relay::Received;
use crate::{hot_rule, points, sim, Rig, TOKEN};

/// The batch carrying the event with `id`.
fn batch_with<'a>(reqs: &'a [Received], id: &str) -> Option<&'a Received> {
    reqs.iter().find(|r| r.event_ids().iter().any(|i| i == id))
}

fn event<'a>(r: &'a Received, id: &str) -> &'a Value {
    let j = r.json.as_ref().unwrap();
    j["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap()
}

/// The heartbeat's entry for `sensor`.
fn beat<'a>(r: &'a Received, sensor: &str) -> Option<&'a Value> {
    r.json.as_ref()?["heartbeat"]["sensors"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == sensor)
}

/// An event's `trend` as (seconds, hundredths of °C), equally long.
fn trend(e: &Value) -> (Vec<i64>, Vec<i64>) {
    let list = |k: &str| -> Vec<i64> {
        e["trend"][k]
            .as_array()
            .unwrap_or_else(|| panic!("no trend.{k} in {e}"))
            .iter()
            .map(|n| n.as_i64().unwrap())
            .collect()
    };
    let (t, v) = (list("t"), list("v"));
    assert_eq!(t.len(), v.len(), "{e}");
    (t, v)
}

fn assert_stamp_near_now(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    let ms = rfc3339_ms(s);
    assert!(
        (now_ms() - ms).abs() < 120_000,
        "{what} {s} is not near the current time"
    );
}

#[test]
fn a_crossing_reaches_the_relay_as_firing_then_resolved() {
    let rig = Rig::new(
        "site = \"Lab 1\"",
        "30s",
        &(sim(
            "rack1",
            &format!(
                "name = \"Rack 1 inlet\"\n{}",
                points(&[(0.0, 20.0), (1.5, 35.0), (3.0, 20.0)])
            ),
        ) + &hot_rule("rack-hot", "rack*")
            + "severity = \"critical\"\n"),
    );
    let mut agent = rig.start();
    let logged = agent.wait_events(2, PATIENCE);
    let (firing, resolved) = (&logged[0], &logged[1]);
    assert!(
        firing.is("firing", "rack1") && resolved.is("resolved", "rack1"),
        "{logged:?}"
    );

    let reqs = rig
        .relay
        .wait("the firing and resolved events", PATIENCE, |reqs| {
            (batch_with(reqs, firing.id()).is_some() && batch_with(reqs, resolved.id()).is_some())
                .then(|| reqs.to_vec())
        });
    for r in &reqs {
        assert_eq!(r.req.method, "POST");
        assert_eq!(r.req.target, "/v1/events");
        assert_eq!(r.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let j = r.json.as_ref().expect("a JSON body");
        assert_eq!(j["gateway"], "e2e");
        assert_eq!(j["site"], "Lab 1");
        assert_stamp_near_now(&j["sent_at"], "sent_at");
        let hb = &j["heartbeat"];
        assert!(
            hb["uptime_s"].is_u64() && hb["outbox"].is_u64(),
            "heartbeat: {hb}"
        );
    }

    let fb = batch_with(&reqs, firing.id()).unwrap();
    let f = event(fb, firing.id());
    for (key, want) in [
        ("kind", "firing"),
        ("rule", "rack-hot"),
        ("sensor", "rack1"),
        ("sensor_name", "Rack 1 inlet"),
        ("severity", "critical"),
        ("direction", "above"),
    ] {
        assert_eq!(f[key], want, "{key} in {f}");
    }
    assert_eq!(f["value"], 35.0, "{f}");
    assert_eq!(f["threshold"], 30.0, "{f}");
    assert_eq!(f["alert"], firing.id(), "{f}");
    assert_stamp_near_now(&f["since"], "since");
    assert_stamp_near_now(&f["at"], "at");
    // The curve travels with it: the readings before, up to the one that fired.
    let (t, v) = trend(f);
    assert!(t.len() >= 2 && t.len() <= 60, "{f}");
    assert_eq!((t.last(), v.last()), (Some(&0), Some(&3500)), "{f}");
    assert!(
        v.contains(&2000) && t.windows(2).all(|w| w[0] <= w[1]),
        "{f}"
    );
    // The heartbeat rides along with the sensor's last value.
    let b =
        beat(fb, "rack1").unwrap_or_else(|| panic!("rack1 not in the heartbeat: {:?}", fb.json));
    assert!(b["value"] == 35.0 || b["value"] == 20.0, "{b}");
    assert!(b["age_s"].as_u64().is_some_and(|a| a <= 5), "{b}");

    let rb = batch_with(&reqs, resolved.id()).unwrap();
    let r = event(rb, resolved.id());
    assert_eq!(r["kind"], "resolved");
    assert_eq!(
        r["alert"],
        firing.id(),
        "the resolve names its episode: {r}"
    );
    assert_eq!(r["value"], 20.0, "{r}");
    let (t, v) = trend(r);
    assert_eq!((t.last(), v.last()), (Some(&0), Some(&2000)), "{r}");
    assert!(
        v.contains(&3500),
        "the episode is in the resolve's trend: {r}"
    );
    assert!(fb.at <= rb.at, "the firing went first");

    let st = rig.s.wait_status("an empty outbox and an ok uplink", |s| {
        s["outbox"] == 0
            && s["relay"]["state"] == "ok"
            && s["relay"]["delivered"].as_u64() >= Some(2)
    });
    let relay = &st["relay"];
    assert_eq!(relay["url"], rig.relay.url(), "{relay}");
    assert_eq!(relay["failures"], 0, "{relay}");
    assert!(relay["batches"].as_u64() >= Some(2), "{relay}");
    assert_stamp_near_now(&relay["last_ok"], "relay.last_ok");

    // A new token is picked up on the next attempt, without a restart (the
    // test alert makes one now; the default answer names no route).
    std::fs::write(&rig.token_file, "etg_rotated\n").unwrap();
    let out = rig.s.cli(&["test-alert"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "delivered to the relay ({}); it did not say where it sends it",
            rig.relay.url()
        )),
        "{out:?}"
    );
    let last = rig.relay.event_requests().pop().unwrap();
    assert_eq!(last.events()[0]["kind"], "test");
    assert_eq!(last.header("authorization"), Some("Bearer etg_rotated"));
}

#[test]
fn heartbeats_alone_arrive_about_every_heartbeat() {
    let rig = Rig::new(
        "",
        "1s",
        &sim("room", "pattern = \"constant\"\nvalue = 21.5"),
    );
    let _agent = rig.start();
    rig.relay
        .wait("a first heartbeat", PATIENCE, |r| r.first().cloned());
    let from = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let window: Vec<Received> = rig
        .relay
        .requests()
        .into_iter()
        .filter(|r| r.at >= from && r.at < from + Duration::from_secs(5))
        .collect();
    assert!(
        (3..=8).contains(&window.len()),
        "expected about 5 heartbeats in 5 s with heartbeat = 1s, got {}:\n{}",
        window.len(),
        rig.relay.summary()
    );
    let mut uptime = 0;
    for r in &window {
        let j = r.json.as_ref().unwrap();
        assert_eq!(j["events"], serde_json::json!([]), "{j}");
        assert_eq!(r.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
        let hb = &j["heartbeat"];
        assert_eq!(hb["outbox"], 0, "{hb}");
        let up = hb["uptime_s"].as_u64().unwrap();
        assert!(up >= uptime, "uptime went backwards: {hb}");
        uptime = up;
        let b = beat(r, "room").unwrap_or_else(|| panic!("no room in {hb}"));
        assert_eq!(b["value"], 21.5, "{b}");
        assert!(b["age_s"].as_u64().is_some_and(|a| a <= 3), "{b}");
    }
    assert!(uptime >= 3, "uptime_s must count: {uptime}");
}
