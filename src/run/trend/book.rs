//! Each sensor's recent valid readings, kept in memory as the lowest and the
//! highest reading of fixed time buckets, so that an alert's trend costs a
//! few dozen copies instead of a store read. Reading the store for every
//! alert cut the agent's sustained MQTT ingest in the side-by-side bench from
//! 104k to 40k readings a second (BENCHMARKS.md): at 800 alerts a second each
//! re-decoded the same hour of its sensor.
//!
//! A line starts with what the store holds of its window, so it is as good
//! as the store from its first reading on. The store is still read for what a
//! line cannot give: a span longer than its window (a long episode's
//! resolve), one finer than its buckets, or one from before the line was
//! complete (after the wall clock went back).

use std::collections::{HashMap, VecDeque};

use crate::config::RuleConfig;

/// Buckets per window: two readings each, and `Trend::from_readings` keeps
/// the lowest and highest of 29 slices, so every slice gets two buckets.
const BUCKETS: i64 = 58;

/// The newest readings kept as they are, beside the buckets: a curve of a
/// few minutes (a new sensor, a freshly started agent) has all its readings
/// in one or two buckets, and would be drawn from two or three points.
const RECENT: usize = 64;

/// Fewest buckets a span must cover to be drawn from memory: fewer would
/// give a coarser curve than the store.
const MIN_BUCKETS: i64 = 29;

/// The lowest and the highest reading of one bucket, as (ms, °C).
#[derive(Debug, Clone, Copy)]
struct Bucket {
    index: i64,
    lo: (i64, f64),
    hi: (i64, f64),
}

/// One sensor's buckets, oldest first.
#[derive(Debug)]
struct Line {
    width_ms: i64,
    buckets: VecDeque<Bucket>,
    /// The newest readings, oldest first (also counted in the buckets).
    recent: VecDeque<(i64, f64)>,
    /// The line holds every valid reading from this stamp on (its buckets
    /// from the start of the store history it was filled with, or the end of
    /// the last bucket it let go).
    complete_from: i64,
}

impl Line {
    fn new(window_ms: i64, complete_from: i64) -> Line {
        Line {
            width_ms: (window_ms / BUCKETS).max(1),
            buckets: VecDeque::new(),
            recent: VecDeque::with_capacity(RECENT),
            complete_from,
        }
    }

    fn add(&mut self, ms: i64, v: f64) {
        if self.recent.back().is_some_and(|&(t, _)| t > ms) {
            // Out of order: the buckets have it; `recent` stays sorted.
            self.recent.clear();
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((ms, v));
        let index = ms.div_euclid(self.width_ms);
        let newest = self.buckets.back().map_or(i64::MIN, |b| b.index);
        if index > newest {
            self.push(index, ms, v);
        } else if let Some(b) = self.buckets.iter_mut().rev().find(|b| b.index == index) {
            // Readings are stamped as they come; a small step of the wall
            // clock can put one in an earlier bucket.
            if v < b.lo.1 {
                b.lo = (ms, v);
            }
            if v > b.hi.1 {
                b.hi = (ms, v);
            }
        } else {
            // The wall clock went back further: the buckets no longer line
            // up with new readings, so the line starts over from here.
            self.buckets.clear();
            self.complete_from = ms;
            self.push(index, ms, v);
        }
    }

    fn push(&mut self, index: i64, ms: i64, v: f64) {
        self.buckets.push_back(Bucket {
            index,
            lo: (ms, v),
            hi: (ms, v),
        });
        // One bucket more than the window: its start lies inside the oldest.
        while self
            .buckets
            .front()
            .is_some_and(|b| b.index < index - BUCKETS - 1)
        {
            if let Some(gone) = self.buckets.pop_front() {
                self.complete_from = self.complete_from.max((gone.index + 1) * self.width_ms);
            }
        }
    }

    /// The stamp of the newest reading the line holds.
    fn newest_ms(&self) -> i64 {
        self.recent.back().map_or(i64::MIN, |&(t, _)| t)
    }

    /// The readings kept from `from_ms` to `at_ms`, oldest first, or `None`
    /// when the line cannot stand in for the store over that span.
    fn points(&self, from_ms: i64, at_ms: i64) -> Option<Vec<(i64, f64)>> {
        // Buckets not there before `complete_from` held no reading.
        let fine_enough = (at_ms - from_ms) / self.width_ms >= MIN_BUCKETS;
        if from_ms < self.complete_from || !fine_enough {
            return None;
        }
        // The buckets up to the first recent reading, then those as they are.
        let split = self.recent.front().map_or(i64::MAX, |&(t, _)| t);
        let mut out = Vec::with_capacity(2 * self.buckets.len() + RECENT);
        for b in &self.buckets {
            let (a, c) = if b.lo.0 <= b.hi.0 {
                (b.lo, b.hi)
            } else {
                (b.hi, b.lo)
            };
            for p in [a, c] {
                if p.0 >= from_ms && p.0 < split && p.0 <= at_ms && out.last() != Some(&p) {
                    out.push(p);
                }
            }
        }
        out.extend(
            self.recent
                .iter()
                .filter(|&&(t, _)| t >= from_ms && t <= at_ms),
        );
        Some(out)
    }
}

/// Every sensor's line.
#[derive(Debug, Default)]
pub struct Book {
    lines: HashMap<String, Line>,
    /// Sensors no rule draws a trend for (no line kept).
    untracked: std::collections::HashSet<String>,
}

impl Book {
    /// Adds a valid reading. A sensor's first one makes its line, filled by
    /// `history(from_ms)` with what the store holds of its window before it.
    pub fn add(
        &mut self,
        rules: &[RuleConfig],
        sensor: &str,
        ms: i64,
        v: f64,
        history: impl FnOnce(i64) -> Option<Vec<(i64, f64)>>,
    ) {
        if let Some(line) = self.lines.get_mut(sensor) {
            line.add(ms, v);
            return;
        }
        if self.untracked.contains(sensor) {
            return;
        }
        let window = rules
            .iter()
            .filter(|r| r.covers(sensor))
            .filter_map(|r| r.trend)
            .max();
        let Some(window) = window else {
            self.untracked.insert(sensor.to_string());
            return;
        };
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let from = ms.saturating_sub(window_ms);
        let mut line = match history(from) {
            Some(earlier) => {
                let mut line = Line::new(window_ms, from);
                for (t, v) in earlier.into_iter().filter(|&(t, _)| t < ms) {
                    line.add(t, v);
                }
                line.complete_from = line.complete_from.min(from);
                line
            }
            // The store could not say what came before: only what comes now.
            None => Line::new(window_ms, ms),
        };
        line.add(ms, v);
        self.lines.insert(sensor.to_string(), line);
    }

    /// Lets go of the lines of sensors silent for longer than their window,
    /// and returns how many. MQTT wildcard ids that come and go would
    /// otherwise pile up, about 3 KiB each, until a restart; a sensor that
    /// speaks again gets its line back from the store, as after a start.
    pub fn forget_silent(&mut self, now_ms: i64) -> usize {
        let before = self.lines.len();
        self.lines
            .retain(|_, l| l.newest_ms() >= now_ms.saturating_sub(l.width_ms * (BUCKETS + 1)));
        // Only a cache of "no rule draws a trend for it", and it grows with
        // the ids too: worked out again at each sensor's next reading.
        self.untracked.clear();
        before - self.lines.len()
    }

    /// `sensor`'s kept readings from `from_ms` to `at_ms`, or `None` when
    /// the store must be read instead.
    pub fn points(&self, sensor: &str, from_ms: i64, at_ms: i64) -> Option<Vec<(i64, f64)>> {
        self.lines.get(sensor)?.points(from_ms, at_ms)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const HOUR: i64 = 3_600_000;

    fn rule(trend: Option<Duration>) -> RuleConfig {
        RuleConfig {
            id: "r".into(),
            sensors: vec!["s*".into()],
            above: Some(30.0),
            below: None,
            hysteresis: 0.0,
            for_: Duration::ZERO,
            stale: None,
            severity: edgetherm_proto::Severity::Warning,
            repeat: None,
            flap_window: Duration::from_secs(600),
            flap_changes: 6,
            trend,
        }
    }

    fn nothing_before(_: i64) -> Option<Vec<(i64, f64)>> {
        Some(Vec::new())
    }

    /// Two hours of one reading a second, a spike at `spike_ms`.
    fn book_with_spike(spike_ms: i64) -> Book {
        let rules = [rule(Some(Duration::from_secs(3600)))];
        let mut book = Book::default();
        for s in 0..7200 {
            let ms = s * 1000;
            let v = if ms == spike_ms { 40.0 } else { 20.0 };
            book.add(&rules, "s1", ms, v, nothing_before);
        }
        book
    }

    #[test]
    fn the_last_window_is_kept_with_its_spike_in_few_points() {
        let book = book_with_spike(2 * HOUR - 1_000_000);
        let p = book.points("s1", HOUR - 1000, 2 * HOUR - 1000).unwrap();
        assert!(
            p.len() <= 2 * (BUCKETS as usize + 2) + RECENT,
            "{}",
            p.len()
        );
        assert!(p.contains(&(2 * HOUR - 1_000_000, 40.0)), "{p:?}");
        assert!(p.windows(2).all(|w| w[0].0 < w[1].0), "{p:?}");
        assert!(p.iter().all(|&(t, _)| t >= HOUR - 1000), "{p:?}");
    }

    #[test]
    fn a_new_line_with_nothing_stored_before_is_complete_at_once() {
        let rules = [rule(Some(Duration::from_secs(3600)))];
        let mut book = Book::default();
        for s in 0..60 {
            book.add(
                &rules,
                "s1",
                HOUR + s * 1000,
                20.0 + s as f64,
                nothing_before,
            );
        }
        let p = book.points("s1", 59_000, HOUR + 59_000).unwrap();
        assert_eq!(p.first(), Some(&(HOUR, 20.0)));
        assert_eq!(p.last(), Some(&(HOUR + 59_000, 79.0)));
    }

    #[test]
    fn a_short_curve_keeps_every_reading() {
        // A minute of readings: one bucket, but all of them drawn.
        let rules = [rule(Some(Duration::from_secs(3600)))];
        let mut book = Book::default();
        let values = [20.0, 31.5, 31.5, 29.0, 28.0];
        for (i, v) in values.iter().enumerate() {
            book.add(&rules, "s1", HOUR + i as i64 * 200, *v, nothing_before);
        }
        let p = book.points("s1", 0, HOUR + 800).unwrap();
        let got: Vec<f64> = p.iter().map(|&(_, v)| v).collect();
        assert_eq!(got, values);
    }

    #[test]
    fn what_the_line_cannot_give_is_left_to_the_store() {
        let book = book_with_spike(0);
        let at = 2 * HOUR - 1000;
        // Longer than the window: its start is gone from memory.
        assert!(book.points("s1", at - 2 * HOUR, at).is_none());
        // Finer than the buckets.
        assert!(book.points("s1", at - 60_000, at).is_none());
        // Another sensor, and one no rule draws a trend for.
        assert!(book.points("s2", at - HOUR, at).is_none());
        let mut off = Book::default();
        off.add(&[rule(None)], "s1", 0, 20.0, |_| panic!("not read"));
        assert!(off.points("s1", -HOUR, 0).is_none());
    }

    #[test]
    fn a_line_starts_with_the_store_history_of_its_window() {
        let rules = [rule(Some(Duration::from_secs(3600)))];
        let mut book = Book::default();
        let earlier: Vec<(i64, f64)> = (0..3600)
            .map(|s| (s * 1000, 20.0 + s as f64 / 1000.0))
            .collect();
        book.add(&rules, "s1", HOUR, 25.0, |from| {
            assert_eq!(from, 0);
            Some(earlier.clone())
        });
        let p = book.points("s1", 0, HOUR).unwrap();
        assert_eq!(p.first(), Some(&(0, 20.0)));
        assert_eq!(p.last(), Some(&(HOUR, 25.0)));
        assert!(p.len() > 2 * MIN_BUCKETS as usize, "{}", p.len());
        // Without history (a store that could not be read), only from now.
        let mut fresh = Book::default();
        fresh.add(&rules, "s1", HOUR, 25.0, |_| None);
        assert!(fresh.points("s1", 0, HOUR).is_none());
    }

    #[test]
    fn a_clock_going_back_starts_the_line_over() {
        let rules = [rule(Some(Duration::from_secs(3600)))];
        let mut book = book_with_spike(0);
        // A step of a few seconds lands in a bucket the line still has.
        book.add(&rules, "s1", 2 * HOUR - 5000, 35.0, nothing_before);
        let p = book.points("s1", HOUR, 2 * HOUR).unwrap();
        assert!(p.contains(&(2 * HOUR - 5000, 35.0)), "{p:?}");
        // Two hours back: nothing kept lines up any more.
        book.add(&rules, "s1", 0, 21.0, nothing_before);
        assert!(book.points("s1", -HOUR, 0).is_none(), "before the step");
        for s in 1..=3600 {
            book.add(&rules, "s1", s * 1000, 21.0, nothing_before);
        }
        let p = book.points("s1", 0, HOUR).unwrap();
        assert!(p.iter().all(|&(_, v)| v == 21.0), "{p:?}");
    }

    #[test]
    fn lines_of_silent_sensors_are_let_go_and_come_back_from_the_store() {
        let rules = [rule(Some(Duration::from_secs(3600)))];
        let mut book = Book::default();
        book.add(&rules, "s1", 0, 20.0, nothing_before);
        book.add(&rules, "s2", 0, 20.0, nothing_before);
        book.add(&[rule(None)], "x", 0, 20.0, nothing_before);
        for s in 1..=3600 {
            book.add(&rules, "s2", s * 1000, 21.0, nothing_before);
        }
        // Within its window s1 is kept, silent or not.
        assert_eq!(book.forget_silent(HOUR), 0);
        assert_eq!(book.lines.len(), 2);
        // Past it, s1 goes; s2 spoke within its window and stays.
        assert_eq!(book.forget_silent(2 * HOUR), 1);
        assert!(book.lines.contains_key("s2") && !book.lines.contains_key("s1"));
        assert!(book.untracked.is_empty());
        // s1 speaks again: its line is filled from the store once more.
        let mut read = false;
        book.add(&rules, "s1", 2 * HOUR, 22.0, |from| {
            read = true;
            assert_eq!(from, HOUR);
            Some(vec![(HOUR + 1000, 19.0)])
        });
        assert!(read);
        let p = book.points("s1", HOUR, 2 * HOUR).unwrap();
        assert_eq!(p, [(HOUR + 1000, 19.0), (2 * HOUR, 22.0)]);
    }
}
