//! A full disk (ENOSPC) under the store: alert events are held in memory
//! and reported once, saved without a restart once space returns, and a
//! stop while they are still held names each of them and exits non-zero.
//! Needs root (it mounts a 4 MiB tmpfs); without root it says skipped,
//! unless `EDGETHERM_REQUIRE_ROOT=1` (as in CI) makes that a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Agent, Setup, PATIENCE};

/// A 4 MiB tmpfs at `at`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn skip_unless_root() -> bool {
    if unsafe { libc::geteuid() } == 0 {
        return false;
    }
    if std::env::var_os("EDGETHERM_REQUIRE_ROOT").is_some_and(|v| v == "1") {
        panic!("EDGETHERM_REQUIRE_ROOT=1 but the tests do not run as root");
    }
    eprintln!("skipped: the disk-full tests need root to mount a tmpfs");
    true
}

/// The store-loss test's agent (a sensor crossing 30 °C every second, a
/// relay nobody answers) with its data dir on a fresh 4 MiB tmpfs.
fn setup() -> (Setup, Tmpfs) {
    let s = crate::store_loss::setup();
    let fs = Tmpfs::mount(&s.data_dir).expect("mount a tmpfs (as root)");
    (s, fs)
}

/// Fills the file system holding `dir` until writes fail; returns the filler.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0x11u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    // The last partial chunk, byte-sized, so nothing at all is left.
    while f.write_all(&[0]).is_ok() {}
    let _ = f.sync_all();
    filler
}

fn count(agent: &Agent, what: &str) -> usize {
    agent.lines().iter().filter(|l| l.contains(what)).count()
}

const HELD: &str = "cannot save alert events to the store";
const BACK: &str = "every alert event held in memory is saved";

#[test]
fn held_events_are_saved_once_space_returns_without_a_restart() {
    if skip_unless_root() {
        return;
    }
    let (s, _fs) = setup();
    let mut agent = s.start();
    agent.wait_started();
    s.wait_status("two events", |st| {
        st["outbox"].as_u64().is_some_and(|n| n >= 2)
    });
    let filler = fill(&s.data_dir);
    agent.wait_line("the held-events ERROR", |l| l.contains(HELD));
    let st = s.wait_status("events held, in status", |st| {
        st["events_held"].as_u64().is_some_and(|n| n >= 1)
    });
    assert!(st["outbox"].as_u64().is_some(), "{st:#}");
    // Several seconds of a full disk, with events every half second.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        count(&agent, HELD),
        1,
        "one ERROR, not one a second:\n{}",
        agent.log()
    );
    std::fs::remove_file(&filler).unwrap();
    let back = agent.wait_line("the INFO that it recovered", |l| l.contains(BACK));
    s.wait_status("nothing held any more", |st| st["events_held"] == 0);
    assert!(back.contains(" INFO "), "{back}");
    eprintln!(
        "reopened: {}",
        count(&agent, "store reopened after an I/O error")
    );
    // Saved events are logged; keep running a little, then stop cleanly.
    std::thread::sleep(Duration::from_secs(2));
    assert!(agent.terminate().success(), "{}", agent.log());
    let logged: Vec<String> = agent
        .events()
        .into_iter()
        .filter(|e| e.kind() == "firing" || e.kind() == "resolved")
        .map(|e| e.id().to_string())
        .collect();
    assert!(logged.len() >= 4, "events were logged:\n{}", agent.log());
    // Each once: a failed write of the log's progress must not log the
    // same events again at every retry.
    let distinct: std::collections::BTreeSet<&String> = logged.iter().collect();
    assert_eq!(
        distinct.len(),
        logged.len(),
        "an event was logged more than once:\n{}",
        agent.log()
    );
    assert_eq!(
        count(&agent, "never saved"),
        0,
        "nothing held at the stop:\n{}",
        agent.log()
    );

    // Every event logged in that run is in the store after a restart.
    let mut again = s.start();
    again.wait_started();
    let st = s.wait_status("the restarted agent", |_| true);
    let outbox = st["outbox"].as_u64().unwrap() as usize;
    again.terminate();
    assert!(
        outbox >= logged.len(),
        "{} events logged in the first run, {outbox} in the store after the restart:\n{}",
        logged.len(),
        again.log()
    );
    assert!(
        !again.log().contains("came back with less"),
        "{}",
        again.log()
    );
}

#[test]
fn a_stop_while_events_are_held_names_each_and_fails() {
    if skip_unless_root() {
        return;
    }
    let (s, _fs) = setup();
    let mut agent = s.start();
    agent.wait_started();
    s.wait_status("an event", |st| {
        st["outbox"].as_u64().is_some_and(|n| n >= 1)
    });
    fill(&s.data_dir);
    agent.wait_line("the held-events ERROR", |l| l.contains(HELD));
    let deadline = Instant::now() + PATIENCE;
    let status = agent.terminate();
    assert!(Instant::now() < deadline);
    assert!(
        !status.success(),
        "a stop with events held must fail:\n{}",
        agent.log()
    );
    let named = count(&agent, "stopping with an alert event that was never saved");
    assert!(named >= 1, "{}", agent.log());
    assert!(
        agent
            .log()
            .contains("could not be saved to the store before stopping"),
        "{}",
        agent.log()
    );
}
