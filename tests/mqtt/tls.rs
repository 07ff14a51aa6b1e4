//! `mqtts://` against mosquitto with a certificate from a private CA: trusted
//! through `ca_file`, refused (with a hint, without dying) under another CA.

use std::time::Duration;

use crate::broker::{make_pki, Mosquitto, Publisher};
use crate::common::Setup;
use crate::{counter, mqtt_section, mqtt_sensor, publish_until_seen, value_of};

#[test]
fn tls_with_private_ca() {
    let pki = tempfile::Builder::new()
        .prefix("edgetherm-pki-")
        .tempdir()
        .unwrap();
    let (files, other_ca) = make_pki(pki.path());
    let Some(broker) = Mosquitto::start_tls_or_skip("tls_with_private_ca", files.clone()) else {
        return;
    };
    let tls_port = broker.tls_port.unwrap();
    let url = format!("mqtts://localhost:{tls_port}");
    let sensor = mqtt_sensor("room", "sensors/room/temperature", "plain");

    let good = Setup::new(
        None,
        &(mqtt_section(
            &url,
            &format!(
                "ca_file = '{}'\nclient_id = \"tls-good\"",
                files.ca.display()
            ),
        ) + &sensor),
    );
    let bad = Setup::new(
        None,
        &(mqtt_section(
            &url,
            &format!(
                "ca_file = '{}'\nclient_id = \"tls-bad\"",
                other_ca.display()
            ),
        ) + &sensor),
    );
    let mut good_agent = good.start();
    let mut bad_agent = bad.start();

    good_agent.wait_line("MQTT connected over TLS", |l| l.contains("MQTT connected"));
    // The publisher uses the plain listener of the same broker.
    let mut p = Publisher::connect(broker.port);
    publish_until_seen(
        &good,
        &mut p,
        "sensors/room/temperature",
        "24.5",
        "room",
        24.5,
    );
    p.publish("sensors/room/temperature", "25.0");
    let st = good.wait_status("room 25 over TLS", |st| value_of(st, "room") == Some(25.0));
    assert_eq!(st["mqtt"]["connected"], true, "{st:#}");
    assert_eq!(st["mqtt"]["broker"], url.as_str(), "{st:#}");
    assert_eq!(counter(&st, "connects"), 1, "{st:#}");

    // The other agent does not trust the broker's issuer.
    let line = bad_agent.wait_line("the TLS failure", |l| l.contains("MQTT connection failed"));
    assert!(line.contains("ca_file"), "no hint at ca_file: {line}");
    let st = bad.wait_status("mqtt.last_error", |st| st["mqtt"]["last_error"].is_string());
    let err = st["mqtt"]["last_error"].as_str().unwrap();
    assert!(
        err.contains("ca_file"),
        "last_error without a hint at ca_file: {err}"
    );
    assert_eq!(st["mqtt"]["connected"], false, "{st:#}");
    // It keeps retrying (backoff 1 s, 2 s, ...) without connecting or dying,
    // and without logging every attempt.
    std::thread::sleep(Duration::from_secs(4));
    assert!(bad_agent.is_running(), "{}", bad_agent.log());
    let st = bad.status();
    assert_eq!(st["mqtt"]["connected"], false, "{st:#}");
    assert_eq!(counter(&st, "connects"), 0, "{st:#}");
    assert!(value_of(&st, "room").is_none(), "{st:#}");
    let failures = bad_agent
        .lines()
        .iter()
        .filter(|l| l.contains("MQTT connection failed"))
        .count();
    assert_eq!(
        failures,
        1,
        "one log line for a persistent failure:\n{}",
        bad_agent.log()
    );
    assert!(
        !bad_agent.log().contains("MQTT connected"),
        "{}",
        bad_agent.log()
    );

    // The good agent was not disturbed.
    p.publish("sensors/room/temperature", "26.0");
    let st = good.wait_status("room 26", |st| value_of(st, "room") == Some(26.0));
    assert_eq!(counter(&st, "connects"), 1, "{st:#}");
    assert!(good_agent.terminate().success());
    assert!(bad_agent.terminate().success(), "{}", bad_agent.log());
}
