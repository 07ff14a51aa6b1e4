//! How the Graph client spaces its requests: retries with exponential
//! backoff and jitter, and a token bucket that caps the request rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often and how patiently requests are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per request (the first one included).
    pub attempts: u32,
    /// First backoff; doubled per attempt, ±25 % jitter.
    pub base: Duration,
    /// Longest backoff.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base: Duration::from_secs(2),
            max: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max);
        base.mul_f64(0.75 + jitter() * 0.5)
    }
}

/// A number in [0, 1): xorshift over the clock and a counter (jitter needs
/// no cryptographic randomness).
fn jitter() -> f64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = now ^ SEQ.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x % 10_000) as f64 / 10_000.0
}

/// A token bucket of one: requests go out at most `rate` per second.
#[derive(Debug)]
pub(super) struct Pacer {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl Pacer {
    pub(super) fn new(rate: f64) -> Pacer {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / rate.clamp(0.001, 1e6)),
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    pub(super) async fn acquire(&self) {
        let wait = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            attempts: 5,
            base: Duration::from_secs(2),
            max: Duration::from_secs(10),
        };
        let first = p.backoff(1);
        assert!(first >= Duration::from_millis(1500) && first <= Duration::from_millis(2500));
        for _ in 0..50 {
            let d = p.backoff(9);
            assert!(d >= Duration::from_millis(7500) && d <= Duration::from_millis(12_500));
        }
    }
}
