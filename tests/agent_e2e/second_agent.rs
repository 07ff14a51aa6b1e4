//! A second agent on the same data_dir: refused, and the live store is not
//! mistaken for a damaged one (which would move it aside).

use crate::common::{cli, Setup};
use crate::sensor;

#[test]
fn a_second_agent_on_the_same_data_dir_is_refused_and_harms_nothing() {
    let body = sensor(
        "probe",
        "sim",
        "pattern = \"constant\"\nvalue = 21.0",
        "100ms",
    );
    let s = Setup::new(None, &body);
    let mut first = s.start();
    first.wait_started();
    let cfg = s.config.to_str().unwrap();
    let second = cli(&["run", "-c", cfg]);
    assert_eq!(second.code, Some(1), "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("another edgetherm agent is already running"),
        "{}",
        second.stderr
    );
    let moved: Vec<_> = std::fs::read_dir(&s.data_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("store.damaged"))
        .collect();
    assert!(moved.is_empty(), "the live store was moved aside");
    // The first agent is unaffected and still answers.
    let st = s.status();
    assert_eq!(st["gateway"], "e2e");
    assert!(!first.log().contains("DAMAGED"), "{}", first.log());

    // Without the socket (deleted by hand), the store's own lock must stop it,
    // and a lock is not damage: nothing is moved aside.
    std::fs::remove_file(s.data_dir.join("control.sock")).unwrap();
    let third = cli(&["run", "-c", cfg]);
    assert_eq!(third.code, Some(1), "{}", third.stderr);
    assert!(
        third.stderr.contains("in use by another process"),
        "{}",
        third.stderr
    );
    let moved = std::fs::read_dir(&s.data_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("store.damaged"))
        .count();
    assert_eq!(moved, 0, "the live store was moved aside");
}
