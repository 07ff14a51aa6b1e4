//! End to end: the real `edgetherm` binary on a copy of the fixture sysfs tree
//! and on simulated sensors, driven through its log (stderr), `status`,
//! `history`, `test-alert` and `check-config`, including SIGKILL mid-run and a
//! corrupted store. Only local files, a Unix socket and child processes.

#[path = "../common/mod.rs"]
mod common;

mod blocks_sigkill;
mod cli;
mod damaged_store;
mod disk_full;
mod fixture_tree;
mod salvage;
mod second_agent;
mod sigkill;
mod stale;
mod store_access;
mod store_loss;
mod trend;

fn sensor(id: &str, kind: &str, extra: &str, interval: &str) -> String {
    format!("[[sensor]]\nid = \"{id}\"\nkind = \"{kind}\"\n{extra}\ninterval = \"{interval}\"\n\n")
}

/// Values of `history --json` rows.
fn values(rows: &[serde_json::Value]) -> Vec<f64> {
    rows.iter().filter_map(|r| r["value"].as_f64()).collect()
}
