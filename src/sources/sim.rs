//! A deterministic simulated sensor: a pure function of time since start.

use std::f64::consts::TAU;

use super::Probe;
use crate::config::SimPattern;
use crate::reading::{Fault, Mono};

/// A simulated sensor following a `SimPattern`.
#[derive(Debug, Clone)]
pub struct SimProbe {
    pattern: SimPattern,
}

impl SimProbe {
    /// A probe for `pattern`.
    pub fn new(pattern: SimPattern) -> SimProbe {
        SimProbe { pattern }
    }
}

impl Probe for SimProbe {
    fn read(&mut self, now: Mono) -> Result<f64, Fault> {
        // Patterns run on time since the agent started.
        value_at(&self.pattern, now.since(Mono::ORIGIN))
    }
}

/// The pattern's value `t_ms` milliseconds after start, rounded to 3 decimals.
pub fn value_at(pattern: &SimPattern, t_ms: u64) -> Result<f64, Fault> {
    let v = match pattern {
        SimPattern::Constant(v) => *v,
        SimPattern::Sine { min, max, period } => {
            let period_ms = period.as_millis() as f64;
            let mid = (min + max) / 2.0;
            let amp = (max - min) / 2.0;
            // Reduce t first so long uptimes keep full precision in sin().
            let phase = if period_ms > 0.0 {
                (t_ms as f64 % period_ms) / period_ms
            } else {
                0.0
            };
            mid + amp * (TAU * phase).sin()
        }
        SimPattern::Step { from, to, at } => {
            if u128::from(t_ms) < at.as_millis() {
                *from
            } else {
                *to
            }
        }
        SimPattern::Points { points, cycle } => {
            let t = match cycle.map(|c| c.as_millis()) {
                Some(c) if c > 0 => u128::from(t_ms) % c,
                _ => u128::from(t_ms),
            };
            let point = points
                .iter()
                .rev()
                .find(|(at, _)| at.as_millis() <= t)
                .or(points.first());
            match point {
                Some((_, Some(v))) => *v,
                _ => return Err(Fault::Simulated),
            }
        }
    };
    Ok(round3(v))
}

/// Rounds to 3 decimals (and turns -0.0 into 0.0 so it prints plainly).
fn round3(v: f64) -> f64 {
    let r = (v * 1000.0).round() / 1000.0;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn constant() {
        let p = SimPattern::Constant(21.12345);
        assert_eq!(value_at(&p, 0), Ok(21.123));
        assert_eq!(value_at(&p, u64::MAX), Ok(21.123));
    }

    #[test]
    fn sine_starts_at_midpoint_rising() {
        let p = SimPattern::Sine {
            min: 10.0,
            max: 30.0,
            period: s(60),
        };
        assert_eq!(value_at(&p, 0), Ok(20.0));
        assert_eq!(value_at(&p, 15_000), Ok(30.0));
        assert_eq!(value_at(&p, 30_000), Ok(20.0));
        assert_eq!(value_at(&p, 45_000), Ok(10.0));
        assert_eq!(value_at(&p, 60_000), Ok(20.0));
        // 20 + 10 * sin(π/6) = 25
        assert_eq!(value_at(&p, 5_000), Ok(25.0));
        // 20 + 10 * sin(2π/60) = 21.0452846...
        assert_eq!(value_at(&p, 1_000), Ok(21.045));
        assert_eq!(value_at(&p, 3_600_000_000 + 15_000), Ok(30.0));
    }

    #[test]
    fn step() {
        let p = SimPattern::Step {
            from: 20.0,
            to: 35.5,
            at: s(30),
        };
        assert_eq!(value_at(&p, 0), Ok(20.0));
        assert_eq!(value_at(&p, 29_999), Ok(20.0));
        assert_eq!(value_at(&p, 30_000), Ok(35.5));
        assert_eq!(value_at(&p, 1_000_000), Ok(35.5));
    }

    #[test]
    fn points_piecewise_constant_with_faults() {
        let p = SimPattern::Points {
            points: vec![(s(10), Some(20.0)), (s(20), None), (s(30), Some(-5.25))],
            cycle: None,
        };
        assert_eq!(
            value_at(&p, 0),
            Ok(20.0),
            "before the first point: the first value"
        );
        assert_eq!(value_at(&p, 10_000), Ok(20.0));
        assert_eq!(value_at(&p, 19_999), Ok(20.0));
        assert_eq!(value_at(&p, 20_000), Err(Fault::Simulated));
        assert_eq!(value_at(&p, 29_999), Err(Fault::Simulated));
        assert_eq!(value_at(&p, 30_000), Ok(-5.25));
        assert_eq!(value_at(&p, 999_999), Ok(-5.25));
    }

    #[test]
    fn points_cycle() {
        let p = SimPattern::Points {
            points: vec![(s(0), Some(1.0)), (s(5), Some(2.0))],
            cycle: Some(s(8)),
        };
        assert_eq!(value_at(&p, 4_999), Ok(1.0));
        assert_eq!(value_at(&p, 5_000), Ok(2.0));
        assert_eq!(value_at(&p, 7_999), Ok(2.0));
        assert_eq!(value_at(&p, 8_000), Ok(1.0));
        assert_eq!(value_at(&p, 13_000), Ok(2.0));
        assert_eq!(value_at(&p, 80_001), Ok(1.0));
    }

    #[test]
    fn points_first_point_fault_and_empty() {
        let p = SimPattern::Points {
            points: vec![(s(5), None), (s(10), Some(3.0))],
            cycle: None,
        };
        assert_eq!(value_at(&p, 0), Err(Fault::Simulated));
        assert_eq!(value_at(&p, 10_000), Ok(3.0));
        let empty = SimPattern::Points {
            points: vec![],
            cycle: None,
        };
        assert_eq!(value_at(&empty, 0), Err(Fault::Simulated));
    }

    #[test]
    fn probe_uses_now() {
        let mut p = SimProbe::new(SimPattern::Step {
            from: 1.0,
            to: 2.0,
            at: s(1),
        });
        assert_eq!(p.read(Mono::ORIGIN.plus_ms(999)), Ok(1.0));
        assert_eq!(p.read(Mono::ORIGIN.plus_ms(1_000)), Ok(2.0));
    }
}
