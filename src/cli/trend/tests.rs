//! The terminal drawings: widths, labels, spikes, gaps and faults.

use super::*;

const T0: i64 = 1_800_000_000_000;

fn series(values: &[Option<f64>]) -> Vec<(i64, Option<f64>)> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| (T0 + i as i64 * 1000, v))
        .collect()
}

fn width_of(s: &str) -> usize {
    s.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// The chart's cells, row by row, without the axes.
fn cells(chart: &str) -> Vec<String> {
    chart
        .lines()
        .take_while(|l| !l.contains('└'))
        .map(|l| l.split(['┤', '│']).nth(1).unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_summary_line_counts_and_skips_faults() {
    let v = [Some(-18.2), None, Some(-14.5), Some(-18.0), None];
    let line = summary_line("freezer-2", &v, "1h", false, Some(80));
    assert!(line.starts_with("freezer-2  "), "{line}");
    assert!(
        line.contains(
            "min -18.20  max -14.50  mean -16.90 °C  (5 readings, 2 faults skipped, last 1h)"
        ),
        "{line}"
    );
    let spark: String = line.chars().filter(|c| ('▁'..='█').contains(c)).collect();
    assert_eq!(spark.chars().count(), 3, "one bar per value: {line}");

    let none = summary_line("s", &[None, None], "5m", true, Some(80));
    assert_eq!(
        none,
        "s  no values  (2 readings, 2 faults skipped, last 5m; --limit reached: the newest are not shown)"
    );
    let one = summary_line("s", &[Some(3.0)], "1h", false, Some(80));
    assert!(
        one.contains("  ▄  min 3.00  max 3.00  mean 3.00 °C  (1 reading, last 1h)"),
        "{one}"
    );
    assert!(!summary_line("s", &[Some(1.0), Some(2.0)], "1h", false, None).contains('█'));
}

#[test]
fn the_summary_sparkline_fits_the_terminal_and_keeps_a_spike() {
    let mut v: Vec<Option<f64>> = vec![Some(-18.0); 3600];
    v[1800] = Some(-5.0);
    // 74 characters besides the sparkline, which takes what is left:
    // at least 8, at most 60.
    for (w, spark) in [(40, 8), (80, 8), (120, 46), (300, 60)] {
        let line = summary_line("freezer", &v, "1h", false, Some(w));
        assert_eq!(line.chars().count(), 74 + spark, "{w}: {line}");
        let bars = line.chars().filter(|c| ('▁'..='█').contains(c)).count();
        assert_eq!(bars, spark, "{w}: {line}");
        assert!(line.contains('█'), "{w}: {line}");
    }
}

#[test]
fn a_chart_fits_its_width_and_labels_min_and_max() {
    let v: Vec<Option<f64>> = (0..500)
        .map(|i| Some(20.0 + 5.0 * (i as f64 / 40.0).sin()))
        .collect();
    for w in [40, 80, 132] {
        let chart = plot(&series(&v), w, PLOT_HEIGHT);
        assert!(width_of(&chart) <= w, "{w}:\n{chart}");
        let lines: Vec<&str> = chart.lines().collect();
        assert_eq!(lines.len(), PLOT_HEIGHT + 2, "{chart}");
        assert!(lines[0].starts_with("25.00 °C ┤"), "{chart}");
        assert!(lines[PLOT_HEIGHT - 1].starts_with("15.00 °C ┤"), "{chart}");
        assert!(lines[PLOT_HEIGHT].contains('└'), "{chart}");
        let times = lines[PLOT_HEIGHT + 1];
        // The date goes when both stamps would not fit.
        let start = if w < 50 {
            "  08:00:00 "
        } else {
            "  2027-01-15 08:00:00 "
        };
        assert!(times.starts_with(&format!("{:8}{start}", "")), "{chart}");
        assert!(times.ends_with("08:08:19 UTC"), "{chart}");
        // Every column holds readings, so every column is drawn.
        let rows = cells(&chart);
        for c in 0..w - "25.00 °C ┤".chars().count() {
            assert!(
                rows.iter()
                    .any(|r| r.chars().nth(c).is_some_and(|ch| ch != ' ')),
                "column {c} empty:\n{chart}"
            );
        }
    }
}

#[test]
fn a_spike_among_many_readings_reaches_the_top() {
    let mut v: Vec<Option<f64>> = vec![Some(-18.0); 3600];
    v[2000] = Some(-5.0);
    let chart = plot(&series(&v), 80, PLOT_HEIGHT);
    let rows = cells(&chart);
    assert_eq!(
        rows[0].matches(['█', '▀']).count(),
        1,
        "one column at the top:\n{chart}"
    );
    assert!(chart.starts_with(" -5.00 °C ┤"), "{chart}");
    assert!(
        chart.contains("-18.00 °C ┤▄▄▄"),
        "the rest at the bottom:\n{chart}"
    );
}

#[test]
fn empty_single_and_flat_series() {
    assert_eq!(plot(&[], 80, PLOT_HEIGHT), "");
    assert_eq!(plot(&series(&[None, None]), 80, PLOT_HEIGHT), "");

    let one = plot(&series(&[Some(4.5)]), 80, PLOT_HEIGHT);
    let labelled: Vec<&str> = one.lines().filter(|l| l.contains('┤')).collect();
    assert_eq!(labelled, ["4.50 °C ┤▄"], "{one}");
    assert!(one.trim_end().ends_with("2027-01-15 08:00:00 UTC"), "{one}");

    let flat = plot(&series(&[Some(7.0); 30]), 80, PLOT_HEIGHT);
    let labelled: Vec<&str> = flat.lines().filter(|l| l.contains('┤')).collect();
    assert_eq!(labelled.len(), 1, "{flat}");
    assert!(labelled[0].starts_with("7.00 °C ┤▄▄▄"), "{flat}");
    assert!(width_of(&flat) <= 80, "{flat}");
}

#[test]
fn faults_are_marked_not_drawn() {
    let mut v: Vec<Option<f64>> = (0..70).map(|i| Some(i as f64)).collect();
    for x in &mut v[30..40] {
        *x = None;
    }
    let chart = plot(&series(&v), 80, PLOT_HEIGHT);
    let axis = chart.lines().find(|l| l.contains('└')).unwrap();
    let marks = axis.matches('×').count();
    assert!((9..=11).contains(&marks), "{marks} marks:\n{chart}");
    // The columns of the faults are empty: a gap, not a line across it.
    let rows = cells(&chart);
    let x = axis
        .split('└')
        .nth(1)
        .unwrap()
        .chars()
        .position(|c| c == '×')
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| r.chars().nth(x + 2).is_none_or(|c| c == ' ')),
        "{chart}"
    );
    assert!(
        chart.starts_with("69.00 °C ┤") && chart.contains("0.00 °C ┤"),
        "{chart}"
    );
}

#[test]
fn a_short_fault_is_not_bridged() {
    // Readings every 2 s over 70 columns: a column apart, joined, but
    // not across the one fault.
    let mut p: Vec<(i64, Option<f64>)> = (0..35)
        .map(|i| (T0 + i * 2000, Some(if i < 20 { 0.0 } else { 10.0 })))
        .collect();
    p[20].1 = None;
    let chart = plot(&p, 80, PLOT_HEIGHT);
    let axis = chart.lines().find(|l| l.contains('└')).unwrap();
    let x = axis
        .split('└')
        .nth(1)
        .unwrap()
        .chars()
        .position(|c| c == '×')
        .unwrap();
    let rows = cells(&chart);
    assert!(
        rows.iter()
            .all(|r| r.chars().nth(x).is_none_or(|c| c == ' ')),
        "nothing drawn over the fault:\n{chart}"
    );
    assert!(
        rows.iter()
            .any(|r| r.chars().nth(x - 2).is_some_and(|c| c != ' ')),
        "{chart}"
    );
}

#[test]
fn sparse_readings_are_joined_unless_far_apart() {
    // Twenty readings a second apart in 70 columns, then a silence.
    let mut p: Vec<(i64, Option<f64>)> = (0..20).map(|i| (T0 + i * 1000, Some(i as f64))).collect();
    p.push((T0 + 60_000, Some(0.0)));
    let chart = plot(&p, 80, PLOT_HEIGHT);
    let rows = cells(&chart);
    let drawn = |c: usize| {
        rows.iter()
            .any(|r| r.chars().nth(c).is_some_and(|ch| ch != ' '))
    };
    let cols = rows.iter().map(|r| r.chars().count()).max().unwrap();
    let first_gap = (0..cols).position(|c| !drawn(c)).unwrap();
    assert!(first_gap > 15, "joined up to the 20th reading:\n{chart}");
    assert!(!drawn(first_gap + 5), "the silence stays empty:\n{chart}");
}

#[test]
fn the_status_cell_has_a_fixed_width() {
    let v: Vec<f64> = (0..36).map(f64::from).collect();
    let cell = status_cell(&v);
    assert_eq!(cell.chars().count(), STATUS_WIDTH);
    assert!(cell.starts_with('▁') && cell.ends_with('█'), "{cell}");
    assert_eq!(status_cell(&[]), " ".repeat(STATUS_WIDTH));
    // (lowest, highest) of 18 slices: one dip, one spike, both drawn.
    let mut pairs = vec![20.0; 36];
    pairs[10] = 10.0;
    pairs[25] = 30.0;
    let cell = status_cell(&pairs);
    assert_eq!(cell.chars().count(), STATUS_WIDTH);
    assert_eq!(cell.chars().nth(5), Some('▁'), "{cell}");
    assert_eq!(cell.chars().nth(12), Some('█'), "{cell}");
    assert_eq!(cell.matches('▅').count(), 16, "{cell}");
    assert_eq!(status_cell(&[2.0]).trim_end(), "▄");
    // A swing within every slice is drawn at full height, not flat.
    let swings: Vec<f64> = (0..36)
        .map(|i| if i % 2 == 0 { -20.0 } else { -12.0 })
        .collect();
    assert_eq!(status_cell(&swings), "█".repeat(STATUS_WIDTH));
    // Fewer values than characters: one each.
    assert_eq!(status_cell(&[1.0, 8.0, 1.0]).trim_end(), "▁█▁");
}
