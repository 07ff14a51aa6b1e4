//! Damage to sled's files after a SIGKILL: flipped bits, a zeroed 4 KiB
//! block, truncation, a deleted file. Each variant must come back either
//! intact (every committed event still in the outbox) or with an ERROR and an
//! `agent_fault` saying what was lost — never "healthy" with events gone.

use std::path::Path;

use crate::common::{copy_tree, Setup};
use crate::sensor;

/// A sensor that crosses 30 °C every second, and a relay nobody answers, so
/// committed events pile up in the outbox.
fn body(token: &Path) -> String {
    format!("[buffer]\nflush_interval = \"1s\"\n\n[relay]\nurl = \"http://127.0.0.1:9\"\ntoken_file = '{}'\n\n", token.display())
        + &sensor(
            "swing",
            "sim",
            "pattern = \"sine\"\nmin = 20.0\nmax = 40.0\nperiod = \"1s\"",
            "100ms",
        )
        + "[[rule]]\nid = \"swing-hot\"\nsensors = \"swing\"\nabove = 30.0\nhysteresis = 1.0\nflap_changes = 1000\n"
}

pub(crate) fn setup() -> Setup {
    let dir = tempfile::Builder::new()
        .prefix("edgetherm-e2e-")
        .tempdir()
        .unwrap();
    let token = dir.path().join("relay.token");
    std::fs::write(&token, "t0k3n\n").unwrap();
    Setup::in_dir(dir, None, &body(&token))
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Flip(u64),
    Zero4k(u64),
    Truncate(u64),
    Delete(&'static str),
}

fn apply(store: &Path, d: Damage) {
    use std::io::{Seek, SeekFrom, Write};
    let db = store.join("db");
    match d {
        Damage::Flip(at) | Damage::Zero4k(at) => {
            let mut bytes = std::fs::read(&db).unwrap();
            let n = bytes.len();
            let at = (at as usize).min(n.saturating_sub(1));
            match d {
                Damage::Flip(_) => {
                    for b in &mut bytes[at..(at + 16).min(n)] {
                        *b ^= 0x5a;
                    }
                }
                _ => {
                    let end = (at + 4096).min(n);
                    bytes[at..end].fill(0);
                }
            }
            let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
            f.seek(SeekFrom::Start(0)).unwrap();
            f.write_all(&bytes).unwrap();
        }
        Damage::Truncate(len) => {
            let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
            f.set_len(len).unwrap();
        }
        Damage::Delete(name) => {
            for e in std::fs::read_dir(store).unwrap() {
                let p = e.unwrap().path();
                if p.file_name().unwrap().to_string_lossy().starts_with(name) {
                    std::fs::remove_file(p).unwrap();
                }
            }
        }
    }
}

#[test]
fn damaged_stores_are_recovered_intact_or_reported_never_silently() {
    let s0 = setup();
    let mut agent = s0.start();
    agent.wait_started();
    let st = s0.wait_status("six events in the outbox", |st| {
        st["outbox"].as_u64().is_some_and(|n| n >= 6)
    });
    let committed = st["outbox"].as_u64().unwrap();
    agent.kill();
    // The killed agent's socket cannot be copied (and is replaced anyway).
    let _ = std::fs::remove_file(s0.data_dir.join("control.sock"));
    let len = std::fs::metadata(s0.data_dir.join("store/db"))
        .unwrap()
        .len();
    assert!(len > 2048, "a db worth damaging: {len} bytes");

    let variants = [
        Damage::Flip(100),
        Damage::Flip(len / 5),
        Damage::Flip(len / 3),
        Damage::Flip(len / 2),
        Damage::Flip(len - 200),
        Damage::Zero4k(0),
        Damage::Zero4k(len / 4),
        Damage::Zero4k(len / 2),
        Damage::Zero4k(len.saturating_sub(4096)),
        Damage::Truncate(0),
        Damage::Truncate(len / 4),
        Damage::Truncate(len / 2),
        Damage::Truncate(len - 100),
        Damage::Delete("db"),
        Damage::Delete("snap."),
        Damage::Delete("conf"),
    ];
    let (mut intact, mut reported) = (Vec::new(), Vec::new());
    for d in variants {
        let s = setup();
        copy_tree(&s0.data_dir, &s.data_dir);
        apply(&s.data_dir.join("store"), d);
        let mut agent = s.start();
        agent.wait_started();
        let st = s.wait_status("the restarted agent", |_| true);
        let after = st["outbox"].as_u64().unwrap();
        assert!(
            agent.is_running(),
            "{d:?}: the agent must carry on:\n{}",
            agent.log()
        );
        // A clean stop, so that the log read below is complete.
        agent.terminate();
        let log = agent.log();
        let report = log.lines().find(|l| {
            l.contains(" ERROR ")
                && (l.contains("came back with less than was committed")
                    || l.contains("THE STORE WAS DAMAGED"))
        });
        match report {
            Some(line) => {
                let faults: Vec<_> = agent
                    .events()
                    .into_iter()
                    .filter(|e| e.kind() == "agent_fault")
                    .collect();
                assert!(
                    faults.iter().any(|f| f.get("detail").contains("lost")
                        || f.get("detail").contains("Salvaged")),
                    "{d:?}: an agent_fault must say what was lost or salvaged: {faults:?}\n{log}"
                );
                reported.push((d, line.to_string()));
            }
            None => {
                assert!(
                    after >= committed,
                    "{d:?}: SILENT LOSS: {committed} events committed, {after} in the outbox, no ERROR:\n{log}"
                );
                intact.push(d);
            }
        }
    }
    eprintln!(
        "{} variants intact: {intact:?}\n{} reported:",
        intact.len(),
        reported.len()
    );
    for (d, line) in &reported {
        eprintln!("  {d:?}: {line}");
    }
    assert!(
        !reported.is_empty(),
        "no variant was detected as damage: the test damages nothing"
    );
}
