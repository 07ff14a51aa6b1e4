//! Teams' documented rate limits, respected before Teams has to enforce them
//! with 429s.
//!
//! Per conversation (per bot): 7 messages per 1 s, 8 per 2 s, 60 per 30 s,
//! 1800 per 3600 s. Per tenant: about 50 per second, all conversations of
//! the tenant together.
//!
//! Sliding windows: a send at `t` counts against a window of length `w`
//! during `[t, t + w)`. Only the newest sends that can still matter are kept:
//! at most 1800 per conversation (the hour window's limit) and at most 50 per
//! tenant (the one-second window's limit), so memory stays bounded.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Added to every window before it counts as free again: Teams counts
/// messages when they arrive, the limiter when they leave, and the time in
/// between varies (the fleet test saw up to 180 ms). Without it, eight
/// sends recorded exactly 2 s apart could arrive within 1.9 s.
pub const MARGIN: Duration = Duration::from_millis(250);

/// Per-conversation windows: (length, most sends within it).
pub const CONVERSATION_WINDOWS: [(Duration, usize); 4] = [
    (Duration::from_secs(1), 7),
    (Duration::from_secs(2), 8),
    (Duration::from_secs(30), 60),
    (Duration::from_secs(3600), 1800),
];

/// Per-tenant window: (length, most sends within it).
pub const TENANT_WINDOW: (Duration, usize) = (Duration::from_secs(1), 50);

/// Send instants, oldest first, at most `keep` of them.
#[derive(Debug, Default)]
struct History {
    sends: VecDeque<Instant>,
}

impl History {
    fn record(&mut self, now: Instant, keep: usize) {
        // Usually appended; an out-of-order record is put in its place.
        let at = self.sends.partition_point(|&t| t <= now);
        self.sends.insert(at, now);
        while self.sends.len() > keep {
            self.sends.pop_front();
        }
    }

    /// How long until one more send fits into every window.
    fn wait(&self, windows: &[(Duration, usize)], now: Instant) -> Duration {
        let mut wait = Duration::ZERO;
        for &(len, limit) in windows {
            // The window is full while the `limit`-th newest send is in it;
            // it frees when that send ages out.
            if limit == 0 || self.sends.len() < limit {
                continue;
            }
            let kth = self.sends[self.sends.len() - limit];
            let free_at = kth + len + MARGIN;
            wait = wait.max(free_at.saturating_duration_since(now));
        }
        wait
    }

    /// Forgets sends older than `age`; true when nothing is left.
    fn prune(&mut self, now: Instant, age: Duration) -> bool {
        while self
            .sends
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= age)
        {
            self.sends.pop_front();
        }
        self.sends.is_empty()
    }
}

/// Sliding-window send limits per conversation and per tenant.
#[derive(Debug, Default)]
pub struct RateLimiter {
    conversations: HashMap<String, History>,
    tenants: HashMap<String, History>,
}

impl RateLimiter {
    /// A limiter with no history.
    pub fn new() -> RateLimiter {
        RateLimiter::default()
    }

    /// How long to wait before sending to (tenant, conversation) at `now`
    /// (`Duration::ZERO` if it may go now). Pure: does not record.
    pub fn wait(&self, tenant: &str, conversation: &str, now: Instant) -> Duration {
        let conv = self
            .conversations
            .get(conversation)
            .map_or(Duration::ZERO, |h| h.wait(&CONVERSATION_WINDOWS, now));
        let ten = self
            .tenants
            .get(tenant)
            .map_or(Duration::ZERO, |h| h.wait(&[TENANT_WINDOW], now));
        conv.max(ten)
    }

    /// Records a send at `now`.
    pub fn record(&mut self, tenant: &str, conversation: &str, now: Instant) {
        let conv_keep = CONVERSATION_WINDOWS.iter().map(|w| w.1).max().unwrap_or(0);
        self.conversations
            .entry(conversation.to_string())
            .or_default()
            .record(now, conv_keep);
        self.tenants
            .entry(tenant.to_string())
            .or_default()
            .record(now, TENANT_WINDOW.1);
    }

    /// Remembers a conversation's send at `at` that another instance made
    /// (its tenant's one-second window has long passed by then).
    pub fn remember(&mut self, conversation: &str, at: Instant) {
        let conv_keep = CONVERSATION_WINDOWS.iter().map(|w| w.1).max().unwrap_or(0);
        self.conversations
            .entry(conversation.to_string())
            .or_default()
            .record(at, conv_keep);
    }

    /// Drops history older than an hour (memory stays bounded), and
    /// conversations and tenants with nothing left.
    pub fn prune(&mut self, now: Instant) {
        let hour = CONVERSATION_WINDOWS
            .iter()
            .map(|w| w.0)
            .max()
            .unwrap_or(Duration::ZERO);
        self.conversations.retain(|_, h| !h.prune(now, hour));
        self.tenants.retain(|_, h| !h.prune(now, TENANT_WINDOW.0));
    }

    /// Conversations and tenants with history (for metrics and tests).
    pub fn tracked(&self) -> (usize, usize) {
        (self.conversations.len(), self.tenants.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64: a small deterministic PRNG for randomized tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The most sends in any half-open window `[a, a + len)` (the maximum
    /// is reached with `a` at a send, so those are the only starts checked).
    fn max_in_window(sends: &[Instant], len: Duration) -> usize {
        let mut sorted = sends.to_vec();
        sorted.sort();
        let mut best = 0;
        let mut j = 0;
        for i in 0..sorted.len() {
            if j < i {
                j = i;
            }
            while j < sorted.len() && sorted[j] < sorted[i] + len {
                j += 1;
            }
            best = best.max(j - i);
        }
        best
    }

    fn check_limits(
        by_conv: &HashMap<String, Vec<Instant>>,
        by_tenant: &HashMap<String, Vec<Instant>>,
    ) {
        for (conv, sends) in by_conv {
            for &(len, limit) in &CONVERSATION_WINDOWS {
                let most = max_in_window(sends, len);
                assert!(
                    most <= limit,
                    "{conv}: {most} sends within {len:?} (limit {limit})"
                );
            }
        }
        for (tenant, sends) in by_tenant {
            let most = max_in_window(sends, TENANT_WINDOW.0);
            assert!(most <= TENANT_WINDOW.1, "{tenant}: {most} sends in 1 s");
        }
    }

    #[test]
    fn empty_limiter_says_go() {
        let r = RateLimiter::new();
        assert_eq!(r.wait("t", "c", Instant::now()), Duration::ZERO);
    }

    #[test]
    fn burst_of_100_to_one_conversation_is_spaced() {
        let start = Instant::now();
        let mut r = RateLimiter::new();
        let mut now = start;
        let mut sends = Vec::new();
        for _ in 0..100 {
            now += r.wait("t1", "c1", now);
            assert_eq!(r.wait("t1", "c1", now), Duration::ZERO);
            r.record("t1", "c1", now);
            sends.push(now);
        }
        for (len, limit) in [
            (Duration::from_secs(1), 7),
            (Duration::from_secs(2), 8),
            (Duration::from_secs(30), 60),
        ] {
            let most = max_in_window(&sends, len);
            assert!(most <= limit, "{most} within {len:?}");
        }
        // The first 7 go at once; the 8th waits for the 1 s window, the 9th
        // for the 2 s window.
        assert_eq!(sends[6], start);
        assert_eq!(sends[7], start + Duration::from_secs(1) + MARGIN);
        assert_eq!(sends[8], start + Duration::from_secs(2) + MARGIN);
        // 100 sends cannot fit in one 30 s window of 60.
        assert!(sends[99] - start >= Duration::from_secs(30));
        // But the limiter does not hold back more than needed: the 61st send
        // goes as soon as the first 30 s window allows.
        assert_eq!(sends[60], start + Duration::from_secs(30) + MARGIN);
    }

    #[test]
    fn tenant_limit_spans_conversations() {
        let start = Instant::now();
        let mut r = RateLimiter::new();
        for i in 0..50 {
            let c = format!("c{i}");
            assert_eq!(r.wait("t1", &c, start), Duration::ZERO);
            r.record("t1", &c, start);
        }
        assert_eq!(
            r.wait("t1", "fresh", start),
            Duration::from_secs(1) + MARGIN
        );
        assert_eq!(r.wait("t2", "fresh", start), Duration::ZERO);
        let later = start + Duration::from_millis(400);
        assert_eq!(
            r.wait("t1", "fresh", later),
            Duration::from_millis(600) + MARGIN
        );
    }

    #[test]
    fn wait_is_pure_and_record_out_of_order_is_kept_sorted() {
        let start = Instant::now();
        let mut r = RateLimiter::new();
        for i in 0..7 {
            r.record("t", "c", start + Duration::from_millis(100 * (7 - i)));
        }
        let w = r.wait("t", "c", start + Duration::from_millis(700));
        assert_eq!(w, r.wait("t", "c", start + Duration::from_millis(700)));
        // The oldest of the 7 is at +100 ms: free at +1100 ms.
        assert_eq!(w, Duration::from_millis(400) + MARGIN);
    }

    #[test]
    fn prune_bounds_memory() {
        let start = Instant::now();
        let mut r = RateLimiter::new();
        for i in 0..1000 {
            r.record(&format!("t{}", i % 10), &format!("c{i}"), start);
        }
        for _ in 0..5000 {
            r.record("t0", "busy", start);
        }
        assert_eq!(r.conversations["busy"].sends.len(), 1800);
        assert_eq!(r.tenants["t0"].sends.len(), 50);
        r.prune(start + Duration::from_secs(2));
        assert_eq!(r.tracked(), (1001, 0));
        r.prune(start + Duration::from_secs(3600));
        assert_eq!(r.tracked(), (0, 0));
        // Pruned history does not change what is allowed.
        assert_eq!(
            r.wait("t0", "busy", start + Duration::from_secs(3600)),
            Duration::ZERO
        );
    }

    /// A sender that always waits as told never exceeds any window, across
    /// random conversations, tenants, gaps and pruning.
    #[test]
    fn randomized_waiting_sender_respects_every_window() {
        for seed in 0..20u64 {
            let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xDEAD_BEEF);
            let start = Instant::now();
            let mut now = start;
            let mut r = RateLimiter::new();
            let mut by_conv: HashMap<String, Vec<Instant>> = HashMap::new();
            let mut by_tenant: HashMap<String, Vec<Instant>> = HashMap::new();
            let tenants = 1 + rng.below(3);
            let convs = 1 + rng.below(40);
            for step in 0..3000 {
                // Gaps from none (bursts) to a few seconds.
                now += match rng.below(10) {
                    0..=5 => Duration::ZERO,
                    6..=8 => Duration::from_millis(rng.below(300)),
                    _ => Duration::from_millis(rng.below(5000)),
                };
                let c = rng.below(convs);
                // A conversation always belongs to the same tenant.
                let tenant = format!("t{}", c % tenants);
                let conv = format!("c{c}");
                let wait = r.wait(&tenant, &conv, now);
                now += wait;
                assert_eq!(
                    r.wait(&tenant, &conv, now),
                    Duration::ZERO,
                    "seed {seed} step {step}: still told to wait after waiting"
                );
                r.record(&tenant, &conv, now);
                by_conv.entry(conv).or_default().push(now);
                by_tenant.entry(tenant).or_default().push(now);
                if rng.below(100) == 0 {
                    r.prune(now);
                }
            }
            check_limits(&by_conv, &by_tenant);
        }
    }

    /// Many conversations of one tenant at full speed: the tenant window
    /// binds, not only the per-conversation ones.
    #[test]
    fn randomized_tenant_flood() {
        let mut rng = Rng(7);
        let start = Instant::now();
        let mut now = start;
        let mut r = RateLimiter::new();
        let mut by_conv: HashMap<String, Vec<Instant>> = HashMap::new();
        let mut by_tenant: HashMap<String, Vec<Instant>> = HashMap::new();
        for _ in 0..2000 {
            let conv = format!("c{}", rng.below(200));
            now += r.wait("t", &conv, now);
            r.record("t", &conv, now);
            by_conv.entry(conv).or_default().push(now);
            by_tenant.entry("t".into()).or_default().push(now);
        }
        check_limits(&by_conv, &by_tenant);
        // 2000 sends at ≤ 50/s take at least 39 s.
        assert!(now - start >= Duration::from_secs(39));
    }
}
