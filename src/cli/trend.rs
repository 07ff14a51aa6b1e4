//! Readings as pictures for a terminal: `history`'s one-line sparkline with
//! min / max / mean, its `--plot` chart, and `status`'s last-hour column.
//! JSON output never carries any of these.

use std::io::IsTerminal;

use edgetherm_proto::trend::sparkline;

use crate::control::HistoryRow;
use crate::reading::Wall;

/// Characters of the last-hour column in `status` (two of the agent's 36
/// values to a character: each slice's more extreme one).
pub const STATUS_WIDTH: usize = 18;

/// Rows of `--plot`'s chart, axes not counted.
pub const PLOT_HEIGHT: usize = 10;

/// Columns of the terminal on stdout, else `$COLUMNS`, else 80.
pub fn terminal_width() -> usize {
    if std::io::stdout().is_terminal() {
        // SAFETY: TIOCGWINSZ only writes a `winsize` into `ws`, which lives
        // across the call; stdout is open (it is a terminal).
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
        if ok && ws.ws_col > 0 {
            return usize::from(ws.ws_col);
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c| c > 0)
        .unwrap_or(80)
}

/// A history row as the pictures use it: wall ms (`None` if the stamp does
/// not parse) and °C (`None` for a fault).
pub fn point(r: &HistoryRow) -> (Option<i64>, Option<f64>) {
    let ms = humantime::parse_rfc3339(&r.at)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64);
    (ms, r.value.filter(|v| v.is_finite()))
}

fn plural(n: usize, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

/// The line above `history`'s rows, e.g. `freezer  ▁▂▅█  min -18.20  max
/// -14.50  mean -17.31 °C  (3600 readings, last 1h)`: faults are left out of
/// the line and the numbers and counted. `width` is the terminal's; `None`
/// leaves the sparkline out (the chart follows). `cut` says `--limit` was
/// reached, so the newest readings are missing.
pub fn summary_line(
    sensor: &str,
    values: &[Option<f64>],
    span: &str,
    cut: bool,
    width: Option<usize>,
) -> String {
    let valid: Vec<f64> = values.iter().flatten().copied().collect();
    let faults = values.len() - valid.len();
    let mut tail = format!("({}", plural(values.len(), "reading"));
    if faults > 0 {
        tail += &format!(", {} skipped", plural(faults, "fault"));
    }
    tail += &format!(", last {span}");
    if cut {
        tail += "; --limit reached: the newest are not shown";
    }
    tail += ")";
    if valid.is_empty() {
        return format!("{sensor}  no values  {tail}");
    }
    let lo = valid.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = valid.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = valid.iter().sum::<f64>() / valid.len() as f64;
    let stats = format!("min {lo:.2}  max {hi:.2}  mean {mean:.2} °C");
    match width {
        Some(w) => {
            let rest = sensor.chars().count() + stats.chars().count() + tail.chars().count() + 6;
            // Never so short that its shape is lost, never wider than a glance.
            let spark = sparkline(&valid, w.saturating_sub(rest).clamp(8, 60));
            format!("{sensor}  {spark}  {stats}  {tail}")
        }
        None => format!("{sensor}  {stats}  {tail}"),
    }
}

/// The cell of `status`'s last-hour column (blank without values).
pub fn status_cell(last_hour: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    // The agent sends each slice's lowest and highest value, two to a
    // character here. Each character draws the one further from the hour's
    // mean (the higher on a tie), on the scale of the whole hour. Not
    // `sparkline`: against each pair's own mean it always takes the higher
    // (no dips), and it scales to what it draws, so a sensor that swings
    // fully within every slice (a 1-minute cycle) would look flat.
    let v: Vec<f64> = last_hour
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let n = v.len();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = v.iter().sum::<f64>() / n.max(1) as f64;
    let columns = n.min(STATUS_WIDTH);
    let cell: String = (0..columns)
        .filter_map(|c| {
            let (a, b) = (c * n / columns, (c + 1) * n / columns);
            v[a..b.max(a + 1)].iter().copied().max_by(|x, y| {
                (x - mean)
                    .abs()
                    .total_cmp(&(y - mean).abs())
                    .then(x.total_cmp(y))
            })
        })
        .map(|x| {
            if hi - lo < 1e-9 {
                BARS[3]
            } else {
                BARS[(((x - lo) / (hi - lo)) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect();
    format!("{cell:<STATUS_WIDTH$}")
}

fn celsius(v: f64) -> String {
    format!("{v:.2} °C")
}

/// `2026-01-05 10:00:00` from wall ms (UTC, like the rows).
fn stamp(ms: i64) -> String {
    let s = Wall {
        ms,
        unsynced: false,
    }
    .rfc3339();
    s.get(..19).unwrap_or(&s).replacen('T', " ", 1)
}

/// A chart of `points` (wall ms, °C or `None` for a fault): `height` rows in
/// which each column is a slice of time drawn from its lowest to its
/// highest reading in half-row steps (so a spike keeps its height however
/// many readings share the column), the y axis labelled with the lowest and
/// highest value, the x axis with the first and last stamp (UTC) and `×`
/// under the columns that hold faults. No line is wider than `width` unless
/// `width` is too small for the labels and ten columns. Empty without values.
pub fn plot(points: &[(i64, Option<f64>)], width: usize, height: usize) -> String {
    let height = height.max(2);
    let mut valid: Vec<(i64, f64)> = points
        .iter()
        .filter_map(|&(ms, v)| v.filter(|v| v.is_finite()).map(|v| (ms, v)))
        .collect();
    if valid.is_empty() {
        return String::new();
    }
    valid.sort_by_key(|&(ms, _)| ms);
    let lo = valid.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = valid.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let flat = hi - lo < 1e-9;
    let levels = 2 * height;
    let level = |v: f64| -> usize {
        if flat {
            height
        } else {
            (((v - lo) / (hi - lo)) * (levels - 1) as f64)
                .round()
                .clamp(0.0, (levels - 1) as f64) as usize
        }
    };
    let row_of = |l: usize| height - 1 - l / 2;
    let mut labels: Vec<Option<String>> = vec![None; height];
    if flat {
        labels[row_of(level(lo))] = Some(celsius(lo));
    } else {
        labels[0] = Some(celsius(hi));
        labels[height - 1] = Some(celsius(lo));
    }
    let label_w = labels
        .iter()
        .flatten()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    let cols = width.saturating_sub(label_w + 2).max(10);

    let t0 = points.iter().map(|p| p.0).min().unwrap_or(0);
    let t1 = points.iter().map(|p| p.0).max().unwrap_or(0);
    let col = |ms: i64| ((ms - t0) as i128 * cols as i128 / ((t1 - t0) as i128 + 1)) as usize;
    let mut range: Vec<Option<(usize, usize)>> = vec![None; cols];
    for &(ms, v) in &valid {
        let l = level(v);
        let c = &mut range[col(ms)];
        *c = Some(c.map_or((l, l), |(a, b)| (a.min(l), b.max(l))));
    }
    let mut fault_ms: Vec<i64> = points
        .iter()
        .filter(|p| p.1.is_none_or(|v| !v.is_finite()))
        .map(|p| p.0)
        .collect();
    fault_ms.sort_unstable();
    // Readings sparser than the columns would leave a comb of empty ones:
    // those between two readings no further apart than a few usual steps
    // are drawn in between; longer gaps (the sensor was silent) and faults
    // stay empty.
    let mut steps: Vec<i64> = valid.windows(2).map(|w| w[1].0 - w[0].0).collect();
    steps.sort_unstable();
    let usual = steps.get(steps.len() / 2).copied().unwrap_or(0);
    for w in valid.windows(2) {
        let ((ma, va), (mb, vb)) = (w[0], w[1]);
        let (ca, cb) = (col(ma), col(mb));
        let fault_between = fault_ms
            .get(fault_ms.partition_point(|&f| f < ma))
            .is_some_and(|&f| f <= mb);
        if cb <= ca + 1 || mb - ma > 3 * usual || fault_between {
            continue;
        }
        for (c, r) in range.iter_mut().enumerate().take(cb).skip(ca + 1) {
            if r.is_none() {
                let l = level(va + (vb - va) * (c - ca) as f64 / (cb - ca) as f64);
                *r = Some((l, l));
            }
        }
    }
    // Neighbouring columns are joined, so that a jump reads as a line.
    for c in 1..cols {
        if let (Some((pa, pb)), Some((a, b))) = (range[c - 1], range[c]) {
            range[c] = Some((a.min(pb + 1), b.max(pa.saturating_sub(1))));
        }
    }
    let mut faults = vec![false; cols];
    for &ms in &fault_ms {
        faults[col(ms)] = true;
    }

    let mut out = String::new();
    for (row, label) in labels.iter().enumerate() {
        let (upper, lower) = (2 * (height - 1 - row) + 1, 2 * (height - 1 - row));
        let cells: String = range
            .iter()
            .map(|r| match r {
                Some((a, b)) => match ((a..=b).contains(&&upper), (a..=b).contains(&&lower)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                },
                None => ' ',
            })
            .collect();
        let line = match label {
            Some(l) => format!("{l:>label_w$} ┤{cells}"),
            None => format!("{:label_w$} │{cells}", ""),
        };
        out += line.trim_end();
        out.push('\n');
    }
    let axis: String = faults.iter().map(|&f| if f { '×' } else { '─' }).collect();
    out += &format!("{:label_w$} └{axis}\n", "");
    let (first, last) = (stamp(t0), stamp(t1));
    let same_day = last.get(..10) == first.get(..10);
    let last = if t1 == t0 {
        String::new()
    } else if same_day {
        format!("{} UTC", last.get(11..).unwrap_or(&last))
    } else {
        format!("{last} UTC")
    };
    let fits = |a: &str| a.chars().count() + last.chars().count() < cols;
    let first = if last.is_empty() {
        format!("{first} UTC")
    } else if !fits(&first) && same_day {
        first.get(11..).unwrap_or(&first).to_string()
    } else {
        first
    };
    if last.is_empty() || fits(&first) {
        let gap = cols.saturating_sub(first.chars().count() + last.chars().count());
        out += &format!("{:label_w$}  {first}{:gap$}{last}", "", "");
    } else {
        out += &format!("{:label_w$}  {first}\n{:label_w$}  {last:>cols$}", "", "");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests;
