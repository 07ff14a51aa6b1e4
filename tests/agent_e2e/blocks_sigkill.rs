//! Reading blocks across SIGKILL of the real agent: every reading older than
//! the last flush is in the store afterwards, including the blocks that were
//! still open (in memory) when the agent died, across several runs.

use std::time::{Duration, Instant};

use crate::common::{now_ms, rfc3339_ms, Setup};
use crate::sensor;

#[test]
fn open_blocks_survive_sigkill_up_to_the_last_flush() {
    const FLUSH_MS: i64 = 1000;
    const EVERY_MS: i64 = 100;
    let sensors = ["fast-a", "fast-b"];
    let mut body = "[buffer]\nflush_interval = \"1s\"\n\n".to_string();
    for id in sensors {
        body += &sensor(
            id,
            "sim",
            "pattern = \"sine\"\nmin = 18.0\nmax = 24.0\nperiod = \"1m\"",
            "100ms",
        );
    }
    let s = Setup::new(None, &body);
    // (started, killed) wall ms of each run.
    let mut runs: Vec<(i64, i64)> = Vec::new();
    let mut kept_before = 0;
    for round in 0..3 {
        let started = now_ms();
        let agent_started = {
            let mut agent = s.start();
            agent.wait_started();
            let until = agent.started + Duration::from_millis(3_500);
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            let killed = now_ms();
            agent.kill();
            killed
        };
        runs.push((started, agent_started));
        for id in sensors {
            let stamps: Vec<i64> = s
                .history(id)
                .iter()
                .filter_map(|r| r["at"].as_str())
                .map(rfc3339_ms)
                .collect();
            assert!(
                stamps.windows(2).all(|w| w[0] <= w[1]),
                "{id}: oldest first"
            );
            // Readings up to the last flush are there: the newest is at most a
            // flush interval (plus scheduling slack) older than the kill.
            let newest = *stamps
                .last()
                .unwrap_or_else(|| panic!("round {round}: no readings of {id}"));
            let age = agent_started - newest;
            assert!(
                age <= FLUSH_MS + 1_500,
                "round {round} {id}: newest stored reading is {age} ms older than the kill"
            );
            // Within each run, no reading is missing: no gap between
            // consecutive readings beyond a few sensor intervals.
            for (i, (from, to)) in runs.iter().enumerate() {
                let inside: Vec<i64> = stamps
                    .iter()
                    .copied()
                    .filter(|t| t >= from && t <= to)
                    .collect();
                assert!(
                    inside.len() >= 15,
                    "round {round} {id}: run {i} kept only {} readings",
                    inside.len()
                );
                let gap = inside.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
                assert!(
                    gap <= 5 * EVERY_MS,
                    "round {round} {id}: a gap of {gap} ms inside run {i}"
                );
            }
            if id == sensors[0] {
                // Earlier runs' blocks (sealed from the open blocks at the
                // next start) are still all there.
                assert!(stamps.len() > kept_before, "round {round}: history grew");
                kept_before = stamps.len();
            }
        }
    }
}
