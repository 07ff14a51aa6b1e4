//! `edgetherm scan --mqtt`: listen to everything on the broker for a few
//! seconds and guess, per topic, which payload format yields a temperature.

use std::collections::BTreeMap;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Packet, QoS};

use super::payload::{self, Format, PayloadSpec};
use crate::config::{MqttConfig, SensorSource};
use crate::scan::Found;

/// At most this many distinct topics are kept (a busy broker has thousands).
const MAX_TOPICS: usize = 2_000;

/// The last payload of every topic seen within `listen`, or why the broker could not be reached.
pub async fn listen(
    cfg: &MqttConfig,
    listen: Duration,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut scan_cfg = cfg.clone();
    // A separate client id, so the running agent is not disconnected.
    scan_cfg.client_id = format!("{}-scan-{}", cfg.client_id, std::process::id());
    let opts = super::client::options(&scan_cfg)?;
    let (client, mut events) = AsyncClient::new(opts, 16);
    let mut seen = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + listen;
    loop {
        let next = tokio::time::timeout_at(deadline, events.poll()).await;
        match next {
            Err(_) => break,
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                client
                    .try_subscribe("#", QoS::AtMostOnce)
                    .map_err(|e| e.to_string())?;
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                if seen.len() < MAX_TOPICS || seen.contains_key(&p.topic) {
                    seen.insert(p.topic.clone(), p.payload.to_vec());
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(super::client::explain(&e)),
        }
    }
    Ok(seen)
}

/// The first format (most specific first) that reads a temperature from
/// `body`, with the JSON pointer used for plain JSON.
pub fn guess(topic: &str, body: &[u8]) -> Option<(Format, Option<String>, f64)> {
    let presets = [Format::Shelly, Format::Tasmota, Format::Zigbee2mqtt];
    let tasmota_topic = topic.ends_with("/SENSOR");
    for f in presets {
        if f == Format::Tasmota && !tasmota_topic {
            continue;
        }
        if let Ok(Some(p)) = payload::parse_message(&PayloadSpec::new(f), body) {
            return Some((f, None, p.celsius));
        }
    }
    for field in ["/temperature", "/temp", "/Temperature", "/tC"] {
        let mut spec = PayloadSpec::new(Format::Json);
        spec.field = Some(field.to_string());
        if let Ok(p) = payload::parse(&spec, body) {
            return Some((Format::Json, Some(field.to_string()), p.celsius));
        }
    }
    let plain = if topic.contains("/sensor/") && topic.ends_with("/state") {
        Format::Esphome
    } else {
        Format::Plain
    };
    payload::parse(&PayloadSpec::new(plain), body)
        .ok()
        .map(|p| (plain, None, p.celsius))
}

/// Turns what was heard into scan results: one per topic with a temperature.
pub fn found(seen: &BTreeMap<String, Vec<u8>>) -> Vec<Found> {
    seen.iter()
        .filter_map(|(topic, body)| {
            let (format, field, celsius) = guess(topic, body)?;
            Some(Found {
                suggested_id: format!("mqtt-{topic}"),
                label: format.name().to_string(),
                source: SensorSource::Mqtt {
                    topic: topic.clone(),
                    format: format.name().to_string(),
                    field,
                    unit: None,
                    range: payload::DEFAULT_RANGE,
                },
                value: Ok(celsius),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_the_common_shapes() {
        let g = |t: &str, b: &str| guess(t, b.as_bytes());
        assert_eq!(
            g(
                "zigbee2mqtt/freezer",
                r#"{"temperature":-18.5,"linkquality":90}"#
            ),
            Some((Format::Zigbee2mqtt, None, -18.5))
        );
        assert_eq!(
            g(
                "shellyplusht-1/status/temperature:0",
                r#"{"id":0,"tC":21.5,"tF":70.7}"#
            ),
            Some((Format::Shelly, None, 21.5))
        );
        assert_eq!(
            g(
                "tele/sonoff/SENSOR",
                r#"{"Time":"2026-11-21T10:00:00","DS18B20":{"Temperature":23.1},"TempUnit":"C"}"#
            ),
            Some((Format::Tasmota, None, 23.1))
        );
        assert_eq!(
            g("node/sensor/room_temperature/state", "19.75"),
            Some((Format::Esphome, None, 19.75))
        );
        assert_eq!(g("home/room", "20"), Some((Format::Plain, None, 20.0)));
        assert_eq!(g("home/door", "open"), None);
        assert_eq!(g("home/power", r#"{"watts":120}"#), None);
    }
}
