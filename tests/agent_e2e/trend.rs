//! The trend in the terminal: `history`'s sparkline line and `--plot`
//! chart, and `status`'s last-hour column, from a running agent's store.

use crate::common::{sensor_status, Setup, PATIENCE};
use crate::{sensor, values};

const BARS: &[char] = &['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

#[test]
fn history_and_status_draw_the_readings() {
    // Every 2 s: -18 °C, a spike to -5 °C, a fault, -18 °C again.
    let freezer =
        "pattern = \"points\"\ncycle = \"2s\"\npoints = [{ at = \"0s\", value = -18.0 }, \
                   { at = \"1s\", value = -5.0 }, { at = \"1200ms\", fault = true }, \
                   { at = \"1400ms\", value = -18.0 }]";
    let body =
        sensor("freezer", "sim", freezer, "100ms") + &sensor("room", "sim", "value = 21.5", "1s");
    let s = Setup::new(None, &body);
    let mut agent = s.start();
    agent.wait_started();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let rows = s.history("freezer");
        let v = values(&rows);
        // A fault is a row without a value.
        if rows.len() >= 40 && rows.len() > v.len() && v.contains(&-5.0) && v.contains(&-18.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no spike and fault stored yet: {rows:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let out = s.cli(&["history", "freezer", "--since", "1h"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut lines = out.stdout.lines();
    let head = lines.next().unwrap();
    assert!(head.starts_with("freezer  "), "{head}");
    assert!(head.contains("  min -18.00  max -5.00  mean "), "{head}");
    assert!(head.contains("faults skipped, last 1h)"), "{head}");
    assert!(
        head.contains('▁') && head.contains('█'),
        "the spike is drawn: {head}"
    );
    let shown: usize = head
        .rsplit_once('(')
        .and_then(|(_, t)| t.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count in {head}"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(
        rows.len(),
        shown,
        "one row a reading below it:\n{}",
        out.stdout
    );
    assert!(
        rows.iter()
            .all(|r| r.contains(" °C") || r.contains("fault: ")),
        "{}",
        out.stdout
    );

    let out = s.cli(&["history", "freezer", "--since", "1h", "--plot"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let chart = &out.stdout;
    assert!(
        chart.starts_with("freezer  min -18.00  max -5.00"),
        "{chart}"
    );
    assert!(
        chart.contains(" -5.00 °C ┤") && chart.contains("-18.00 °C ┤"),
        "{chart}"
    );
    let axis = chart
        .lines()
        .find(|l| l.contains('└'))
        .unwrap_or_else(|| panic!("{chart}"));
    assert!(axis.contains('×'), "faults are marked: {chart}");
    assert!(chart.trim_end().ends_with(" UTC"), "{chart}");
    assert!(!chart.contains(".000 °C"), "no rows with --plot: {chart}");

    let out = s.cli(&["history", "freezer", "--plot", "--json"]);
    assert_eq!(out.code, Some(2), "--plot and --json conflict: {out:?}");
    // JSON stays plain data: `s.history` parses every line.
    assert!(s
        .history("freezer")
        .iter()
        .all(|r| r.get("spark").is_none()));

    let st = s.status();
    let hour: Vec<f64> = sensor_status(&st, "freezer")["last_hour"]
        .as_array()
        .unwrap_or_else(|| panic!("no last_hour: {st:#}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(!hour.is_empty() && hour.len() <= 36, "{hour:?}");
    assert!(hour.contains(&-5.0) && hour.contains(&-18.0), "{hour:?}");
    let out = s.cli(&["status"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("LAST HOUR"), "{}", out.stdout);
    let row = |id: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no {id} in {}", out.stdout))
            .to_string()
    };
    let freezer = row("freezer");
    assert!(freezer.contains('▁') && freezer.contains('█'), "{freezer}");
    assert!(row("room").contains('▄'), "flat: {}", row("room"));

    // Without the agent, from the store itself: the same line.
    assert!(agent.terminate().success());
    let out = s.cli(&["history", "freezer", "--since", "1h"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.starts_with("freezer  ") && out.stdout.lines().next().unwrap().contains('█'),
        "{}",
        out.stdout
    );
    assert!(!BARS
        .iter()
        .any(|b| s.cli(&["history", "room", "--json"]).stdout.contains(*b)));
}
