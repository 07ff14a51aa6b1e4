//! Exponential backoff with jitter, for anything that retries forever (the
//! MQTT connection, the relay uplink): a fleet of gateways that lost the same
//! broker or relay must not come back in lock-step.

use std::time::Duration;

/// Doubling delays from `base` up to `cap`, each with ±25% jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    next: Duration,
    seed: u64,
}

impl Backoff {
    /// Starts at `base`, never exceeds `cap` (before jitter).
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        Backoff {
            base,
            cap,
            next: base,
            seed: seed | 1,
        }
    }

    /// The delay before the next attempt; each call doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.cap);
        jittered(d, &mut self.seed)
    }

    /// Back to `base` after a success.
    pub fn reset(&mut self) {
        self.next = self.base;
    }
}

/// Small, dependency-free jitter: ±25% around `base`.
pub fn jittered(base: Duration, seed: &mut u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let factor = 0.75 + (*seed % 1000) as f64 / 2000.0;
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_quarter() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(8), &mut seed);
            assert!(
                d >= Duration::from_secs(6) && d <= Duration::from_secs(10),
                "{d:?}"
            );
            seen.insert(d.as_millis());
        }
        assert!(
            seen.len() > 100,
            "jitter must actually vary: {}",
            seen.len()
        );
    }

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let nominal = Duration::from_secs((1u64 << i).min(60));
            assert!(
                *d >= nominal.mul_f64(0.75) && *d <= nominal.mul_f64(1.25),
                "{i}: {d:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(1250));
    }
}
