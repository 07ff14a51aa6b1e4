//! A sensor's recent readings, sent with an alert so that whoever reads it
//! sees the curve, not one number: compact (seconds and hundredths of a
//! degree as integers), bounded, and thinned so that spikes survive.

use serde::{Deserialize, Serialize};

/// Most points a trend carries: about 12 bytes of JSON each, so a trend
/// stays under 1 KiB and a batch of alerts stays small.
pub const MAX_POINTS: usize = 60;

/// The longest span a trend may cover (a whole episode is cut to its end).
pub const MAX_SPAN_S: i64 = 24 * 3600;

/// Recent readings of the event's sensor, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trend {
    /// Seconds from the event's `at` to each reading: zero or negative.
    pub t: Vec<i32>,
    /// Each reading in hundredths of a degree Celsius (−1523 is −15.23 °C).
    pub v: Vec<i32>,
}

/// Why a trend cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrendError {
    /// `t` and `v` differ in length.
    Lengths,
    /// More than [`MAX_POINTS`].
    TooLong,
    /// An offset after `at`, out of order, or older than [`MAX_SPAN_S`].
    Offsets,
}

impl std::fmt::Display for TrendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrendError::Lengths => "t and v must have the same length",
            TrendError::TooLong => "at most 60 points",
            TrendError::Offsets => "t must rise, from at most 24 h before `at` to 0",
        })
    }
}

impl Trend {
    /// Thins `(ms, °C)` readings, oldest first, taken up to `at_ms`, to at
    /// most `max` points: the span is cut into `(max - 1) / 2` equal slices
    /// and each keeps its lowest and its highest reading, in time order, so a
    /// spike is drawn as high as it went instead of being averaged away. The
    /// newest reading is always the last point: it is the "now" a reader
    /// looks for, and the value that fired or resolved the alert.
    pub fn from_readings(readings: &[(i64, f64)], at_ms: i64, max: usize) -> Trend {
        let max = max.clamp(2, MAX_POINTS);
        let floor = at_ms - MAX_SPAN_S * 1000;
        let usable: Vec<(i64, f64)> = readings
            .iter()
            .copied()
            .filter(|&(ms, v)| ms <= at_ms && ms >= floor && v.is_finite())
            .collect();
        let picked: Vec<(i64, f64)> = if usable.len() <= max {
            usable
        } else {
            let slices = (max - 1) / 2;
            let (first, last) = (usable[0].0, usable[usable.len() - 1].0);
            let width = ((last - first) / slices as i64).max(1);
            let mut out = Vec::with_capacity(max);
            let mut start = 0;
            for s in 0..slices {
                let end_ms = if s + 1 == slices {
                    i64::MAX
                } else {
                    first + width * (s as i64 + 1)
                };
                let end = start + usable[start..].partition_point(|&(ms, _)| ms < end_ms);
                let slice = &usable[start..end];
                start = end;
                let (Some(lo), Some(hi)) = (
                    slice.iter().min_by(|a, b| a.1.total_cmp(&b.1)),
                    slice.iter().max_by(|a, b| a.1.total_cmp(&b.1)),
                ) else {
                    continue;
                };
                let (a, b) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
                out.push(*a);
                if b != a {
                    out.push(*b);
                }
            }
            let newest = usable[usable.len() - 1];
            if out.last() != Some(&newest) {
                out.push(newest);
            }
            out
        };
        Trend {
            t: picked
                .iter()
                .map(|&(ms, _)| ((ms - at_ms) as f64 / 1000.0).round() as i32)
                .collect(),
            v: picked
                .iter()
                .map(|&(_, v)| (v * 100.0).round() as i32)
                .collect(),
        }
    }

    /// The readings in °C.
    pub fn celsius(&self) -> impl Iterator<Item = f64> + '_ {
        self.v.iter().map(|&v| f64::from(v) / 100.0)
    }

    /// True when there is nothing to draw.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// Whether a receiver can use it as sent.
    pub fn check(&self) -> Result<(), TrendError> {
        if self.t.len() != self.v.len() {
            return Err(TrendError::Lengths);
        }
        if self.t.len() > MAX_POINTS {
            return Err(TrendError::TooLong);
        }
        let in_range = |&t: &i32| i64::from(t) <= 0 && i64::from(t) >= -MAX_SPAN_S;
        if !self.t.iter().all(in_range) || self.t.windows(2).any(|w| w[0] > w[1]) {
            return Err(TrendError::Offsets);
        }
        Ok(())
    }
}

/// A one-line sparkline of `values` (▁ lowest to █ highest), at most
/// `width` characters; a flat series is drawn at mid height.
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if values.is_empty() || width == 0 {
        return String::new();
    }
    // Thin by taking each column's extreme away from the middle, so a
    // spike still shows when there are more values than columns.
    let columns: Vec<f64> = if values.len() <= width {
        values.clone()
    } else {
        (0..width)
            .map(|c| {
                let (a, b) = (c * values.len() / width, (c + 1) * values.len() / width);
                let part = &values[a..b.max(a + 1)];
                let lo = part.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = part.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mean = part.iter().sum::<f64>() / part.len() as f64;
                if hi - mean >= mean - lo {
                    hi
                } else {
                    lo
                }
            })
            .collect()
    };
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    columns
        .iter()
        .map(|&v| {
            if hi - lo < 1e-9 {
                BARS[3]
            } else {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_survives_thinning() {
        // One reading a second for an hour at -18 °C, one of them at -5 °C.
        let at = 3_600_000;
        let mut r: Vec<(i64, f64)> = (0..3600).map(|s| (s * 1000, -18.0)).collect();
        r[1234].1 = -5.0;
        let t = Trend::from_readings(&r, at, 60);
        assert!(t.t.len() <= 60, "{}", t.t.len());
        assert!(t.v.contains(&-500), "the spike is kept: {:?}", t.v);
        assert_eq!(t.check(), Ok(()));
        assert_eq!(*t.t.last().unwrap(), -1, "ends at the newest reading");
    }

    #[test]
    fn the_newest_reading_is_the_last_point_even_when_neither_low_nor_high() {
        // A freezer warming for an hour, then cooling back: the last slice's
        // lowest and highest readings come before the newest one.
        let at = 3_600_000;
        let r: Vec<(i64, f64)> = (0..=3600)
            .map(|s| {
                let v = if s < 3500 {
                    -18.0 + s as f64 / 500.0
                } else {
                    -11.0 - (s - 3500) as f64 / 100.0
                };
                (s * 1000, v)
            })
            .collect();
        let newest = r[r.len() - 1];
        let t = Trend::from_readings(&r, at, MAX_POINTS);
        assert!(t.t.len() <= MAX_POINTS, "{}", t.t.len());
        assert_eq!(t.check(), Ok(()));
        assert_eq!(t.t.last(), Some(&0));
        assert_eq!(t.v.last(), Some(&((newest.1 * 100.0).round() as i32)));
        // The turn is kept too, as the last slice's highest reading.
        assert!(t.v.contains(&-1100), "{:?}", t.v);
    }

    #[test]
    fn few_readings_are_kept_as_they_are() {
        let r = [(1_000, 20.004), (61_000, 20.5), (121_000, 21.256)];
        let t = Trend::from_readings(&r, 121_000, 60);
        assert_eq!(t.t, vec![-120, -60, 0]);
        assert_eq!(t.v, vec![2000, 2050, 2126]);
    }

    #[test]
    fn readings_outside_the_span_are_left_out() {
        let at = MAX_SPAN_S * 1000 + 10_000;
        let r = [(0, 1.0), (10_000, 2.0), (at + 1, 3.0), (at, f64::NAN)];
        let t = Trend::from_readings(&r, at, 60);
        assert_eq!(t.v, vec![200]);
    }

    #[test]
    fn bad_trends_are_named() {
        let t = |t: Vec<i32>, v: Vec<i32>| Trend { t, v }.check();
        assert_eq!(t(vec![-1], vec![]), Err(TrendError::Lengths));
        assert_eq!(t(vec![0; 61], vec![0; 61]), Err(TrendError::TooLong));
        assert_eq!(t(vec![-1, -2], vec![0, 0]), Err(TrendError::Offsets));
        assert_eq!(t(vec![1], vec![0]), Err(TrendError::Offsets));
        assert_eq!(t(vec![-90_000], vec![0]), Err(TrendError::Offsets));
        assert_eq!(t(vec![], vec![]), Ok(()));
    }

    #[test]
    fn sparklines_span_the_bars_and_fit_the_width() {
        assert_eq!(
            sparkline(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 8),
            "▁▂▃▄▅▆▇█"
        );
        assert_eq!(sparkline(&[5.0, 5.0], 10), "▄▄");
        assert_eq!(sparkline(&[], 10), "");
        let long: Vec<f64> = (0..100).map(|i| if i == 50 { 9.0 } else { 1.0 }).collect();
        let s = sparkline(&long, 20);
        assert_eq!(s.chars().count(), 20);
        assert!(s.contains('█'), "{s}");
    }
}
