//! Detected damage does not strand undelivered events: a store moved aside
//! is salvaged into the fresh one, and the agent_fault says what was and was
//! not carried over.

use crate::common::{copy_tree, Setup};
use crate::store_loss::setup;

/// Runs the first agent until `n` events wait in the outbox, SIGKILLs it.
fn store_with_events(n: u64) -> (Setup, u64) {
    let s = setup();
    let mut agent = s.start();
    agent.wait_started();
    let st = s.wait_status("events in the outbox", |st| {
        st["outbox"].as_u64().is_some_and(|k| k >= n)
    });
    agent.kill();
    let _ = std::fs::remove_file(s.data_dir.join("control.sock"));
    (s, st["outbox"].as_u64().unwrap())
}

fn restart(s: &Setup) -> (String, Vec<String>, u64) {
    let mut agent = s.start();
    agent.wait_started();
    let st = s.wait_status("the restarted agent", |_| true);
    agent.terminate();
    let faults = agent
        .events()
        .into_iter()
        .filter(|e| e.kind() == "agent_fault")
        .map(|e| e.get("detail").to_string())
        .collect();
    (agent.log(), faults, st["outbox"].as_u64().unwrap())
}

#[test]
fn a_damaged_conf_is_moved_aside_and_its_events_salvaged() {
    let (s0, committed) = store_with_events(4);
    let s = setup();
    copy_tree(&s0.data_dir, &s.data_dir);
    std::fs::write(
        s.data_dir.join("store/conf"),
        "segment_size: lots\nthis is not sled's config\n",
    )
    .unwrap();
    let (log, faults, outbox) = restart(&s);
    assert!(log.contains("THE STORE WAS DAMAGED"), "{log}");
    let fault = faults
        .iter()
        .find(|f| f.contains("Salvaged from it"))
        .unwrap_or_else(|| panic!("no salvage report: {faults:?}\n{log}"));
    assert!(
        fault.contains(&format!("Salvaged from it: {committed} undelivered")),
        "{fault}"
    );
    assert!(fault.contains("says nothing else was waiting"), "{fault}");
    // Salvaged events, the agent_fault, and whatever the sine did since.
    assert!(outbox > committed, "{outbox} <= {committed}\n{log}");
}

#[test]
fn a_store_replaced_by_a_file_says_nothing_could_be_salvaged() {
    let (s0, committed) = store_with_events(2);
    let s = setup();
    copy_tree(&s0.data_dir, &s.data_dir);
    let store = s.data_dir.join("store");
    std::fs::remove_dir_all(&store).unwrap();
    std::fs::write(&store, b"not a store").unwrap();
    let (log, faults, _) = restart(&s);
    assert!(log.contains("THE STORE WAS DAMAGED"), "{log}");
    let fault = faults
        .iter()
        .find(|f| f.contains("Salvaged from it"))
        .unwrap_or_else(|| panic!("no salvage report: {faults:?}\n{log}"));
    assert!(fault.contains("Salvaged from it: 0 undelivered"), "{fault}");
    assert!(fault.contains("it is not a directory"), "{fault}");
    assert!(committed >= 2);
}
