//! The CLI on its own: `status` without an agent, `check-config` and
//! `test-alert`.

use crate::common::{self, Setup};
use crate::sensor;

#[test]
fn status_without_agent_is_a_clear_error() {
    let body = sensor("room", "sim", "value = 21.5", "1s");
    let s = Setup::new(None, &body);
    let out = s.cli(&["status"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("no edgetherm agent is running"),
        "{out:?}"
    );
    assert!(out.stdout.is_empty(), "{out:?}");

    // A socket left behind by a killed agent (nobody listening) is the same.
    std::fs::create_dir_all(&s.data_dir).unwrap();
    drop(std::os::unix::net::UnixListener::bind(s.data_dir.join("control.sock")).unwrap());
    assert!(s.data_dir.join("control.sock").exists());
    for args in [&["status", "--json"][..], &["test-alert"][..]] {
        let out = s.cli(args);
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("no edgetherm agent is running"),
            "{args:?}: {out:?}"
        );
    }
}

#[test]
fn check_config_reports_all_errors_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = [
        "[agent]",                    // 1
        "gateway_id = \"gw\"",        // 2
        "colour = \"blue\"",          // 3: unknown key
        "",                           // 4
        "[[sensor]]",                 // 5
        "id = \"s1\"",                // 6
        "kind = \"sim\"",             // 7
        "value = 20.0",               // 8
        "interval = \"10 parsecs\"",  // 9: bad duration
        "",                           // 10
        "[[rule]]",                   // 11
        "sensors = [\"s1\"]",         // 12
        "above = 30.0",               // 13
        "severity = \"apocalyptic\"", // 14: bad enum
    ]
    .join("\n")
        + "\n";
    std::fs::write(&bad, text).unwrap();
    let out = common::cli(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let prefix = format!("{}:", bad.display());
    let located: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| {
            l.starts_with(&prefix)
                && l[prefix.len()..]
                    .split(':')
                    .take(2)
                    .all(|n| n.trim().parse::<u32>().is_ok())
        })
        .collect();
    assert_eq!(
        located.len(),
        3,
        "three path:line:col: errors:\n{}",
        out.stderr
    );
    assert!(
        located[0].starts_with(&format!("{prefix}3:1: ")) && located[0].contains("colour"),
        "{}",
        located[0]
    );
    assert!(
        located[1].starts_with(&format!("{prefix}9:")) && located[1].contains("interval"),
        "{}",
        located[1]
    );
    assert!(
        located[2].starts_with(&format!("{prefix}14:"))
            && located[2].contains("severity")
            && located[2].contains("apocalyptic"),
        "{}",
        located[2]
    );
    assert!(out.stderr.contains("invalid (3 errors)"), "{}", out.stderr);

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[agent]\ngateway_id = \"gw\"\n\n".to_string()
            + &sensor("s1", "sim", "value = 20.0", "10s")
            + "[[rule]]\nid = \"r1\"\nsensors = \"s1\"\nabove = 30.0\n",
    )
    .unwrap();
    let out = common::cli(&["check-config", good.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains(&format!("{}: valid", good.display())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("sensors  1") && out.stdout.contains("rules    1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("r1") && out.stdout.contains("above 30"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn test_alert_reaches_the_log() {
    let body = sensor("room", "sim", "value = 21.5", "1s");
    let s = Setup::new(None, &body);
    let mut agent = s.start();
    agent.wait_started();
    let out = s.cli(&["test-alert"]);
    assert_eq!(out.code, Some(0), "{out:?}\nlog:\n{}", agent.log());
    let id = out
        .stdout
        .strip_prefix("test alert ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no id in {:?}", out.stdout))
        .to_string();
    assert_eq!(id.len(), 26, "a ULID: {id}");
    assert!(
        out.stdout.contains("delivered to the agent's log"),
        "{}",
        out.stdout
    );
    let e = agent.wait_event("the test event", |e| e.kind() == "test" && e.id() == id);
    assert_eq!(e.level, "INFO");
    assert!(
        e.get("detail").contains("test alert from gateway e2e"),
        "{e:?}"
    );
    assert_eq!(s.status()["outbox"], 0);
    assert!(agent.terminate().success());
    assert_eq!(
        agent.events().iter().filter(|e| e.kind() == "test").count(),
        1,
        "{}",
        agent.log()
    );
}
