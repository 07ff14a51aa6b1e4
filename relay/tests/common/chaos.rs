//! What the kill-at-random tests share: a seeded schedule that can be
//! replayed, and a stop flag that also fires when a test panics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// xorshift64*, so a seed gives the same schedule.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from the environment variable `var`, else the clock; the seed
    /// is printed so a failing run can be replayed with `var=<seed>`.
    pub fn from_env(var: &str) -> Rng {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                now.as_nanos() as u64 | 1
            });
        eprintln!("{var}={seed}");
        Rng(seed)
    }

    /// The next raw value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A duration between `lo` and `hi` milliseconds, inclusive.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

/// Raises the flag on drop (also on panic), so a helper thread ends.
pub struct StopOnDrop(pub Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
