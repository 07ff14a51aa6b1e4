//! Wall-clock stamps that survive a Pi without a real-time clock.
//!
//! Rule timing never uses the wall clock (see `reading::Mono`). Stamps do,
//! and a gateway may boot near 1970 until NTP syncs. Below a floor — the
//! newest stamp the store has ever seen, or this release's build year — the
//! system clock is not believed: stamps are estimated from the last trusted
//! one plus monotonic time and flagged `unsynced`. Jumps are reported once.

use crate::reading::{Mono, MonoClock, Wall};

/// 2026-01-01T00:00:00Z: no real reading is older than this release.
pub const BUILD_FLOOR_MS: i64 = 1_767_225_600_000;

/// A clock change worth a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockChange {
    /// The system clock is before the floor: stamps are now estimated.
    Unsynced {
        /// System clock (ms).
        system_ms: i64,
        /// The floor it is below (ms).
        floor_ms: i64,
    },
    /// The system clock became believable again (e.g. NTP synced).
    Synced {
        /// How far it moved from our estimate (ms, positive = forward).
        jump_ms: i64,
    },
    /// A trusted clock jumped by more than the tolerance.
    Jumped {
        /// Size of the jump (ms, positive = forward).
        jump_ms: i64,
    },
}

/// Jumps smaller than this are ordinary NTP slewing and not reported.
const JUMP_TOLERANCE_MS: i64 = 2_000;

/// Produces wall-clock stamps with their trust flag.
#[derive(Debug)]
pub struct Clock {
    mono: MonoClock,
    floor_ms: i64,
    /// (mono, wall) of the last trusted or estimated stamp.
    anchor: (Mono, i64),
    synced: Option<bool>,
}

impl Clock {
    /// A clock whose floor is the larger of the build floor and `stored_ms`.
    pub fn new(mono: MonoClock, stored_ms: Option<i64>) -> Clock {
        let floor_ms = stored_ms.unwrap_or(0).max(BUILD_FLOOR_MS);
        Clock {
            mono,
            floor_ms,
            anchor: (Mono::ORIGIN, floor_ms),
            synced: None,
        }
    }

    /// The monotonic clock behind it.
    pub fn mono(&self) -> MonoClock {
        self.mono
    }

    /// True when the last stamp came from a trusted system clock.
    pub fn is_synced(&self) -> bool {
        self.synced == Some(true)
    }

    /// Now, on both clocks, and a change to report if there was one.
    pub fn now(&mut self) -> (Mono, Wall, Option<ClockChange>) {
        let mono = self.mono.now();
        let system_ms = Wall::system_now().ms;
        self.stamp(mono, system_ms)
    }

    /// The pure part of `now`, for tests.
    pub fn stamp(&mut self, mono: Mono, system_ms: i64) -> (Mono, Wall, Option<ClockChange>) {
        let expected = self.anchor.1 + mono.since(self.anchor.0) as i64;
        if system_ms >= self.floor_ms {
            let change = match self.synced {
                Some(false) => Some(ClockChange::Synced {
                    jump_ms: system_ms - expected,
                }),
                Some(true) if (system_ms - expected).abs() > JUMP_TOLERANCE_MS => {
                    Some(ClockChange::Jumped {
                        jump_ms: system_ms - expected,
                    })
                }
                _ => None,
            };
            self.synced = Some(true);
            self.anchor = (mono, system_ms);
            (
                mono,
                Wall {
                    ms: system_ms,
                    unsynced: false,
                },
                change,
            )
        } else {
            let change = (self.synced != Some(false)).then_some(ClockChange::Unsynced {
                system_ms,
                floor_ms: self.floor_ms,
            });
            self.synced = Some(false);
            self.anchor = (mono, expected);
            (
                mono,
                Wall {
                    ms: expected,
                    unsynced: true,
                },
                change,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn boot_in_1970_then_ntp_sync() {
        let stored = BUILD_FLOOR_MS + 300 * DAY;
        let mut c = Clock::new(MonoClock::start(), Some(stored));
        let (_, w, change) = c.stamp(Mono::ORIGIN.plus_ms(1_000), 5_000);
        assert!(w.unsynced);
        assert_eq!(w.ms, stored + 1_000, "estimated from the stored floor");
        assert!(matches!(change, Some(ClockChange::Unsynced { .. })));
        let (_, w, change) = c.stamp(Mono::ORIGIN.plus_ms(11_000), 6_000);
        assert_eq!(w.ms, stored + 11_000);
        assert_eq!(change, None, "reported once");
        let real = stored + 2 * DAY;
        let (_, w, change) = c.stamp(Mono::ORIGIN.plus_ms(12_000), real);
        assert!(!w.unsynced);
        assert_eq!(w.ms, real);
        assert_eq!(
            change,
            Some(ClockChange::Synced {
                jump_ms: real - (stored + 12_000)
            })
        );
    }

    #[test]
    fn small_drift_is_quiet_big_jumps_are_reported() {
        let t0 = BUILD_FLOOR_MS + DAY;
        let mut c = Clock::new(MonoClock::start(), None);
        assert_eq!(c.stamp(Mono(0), t0).2, None);
        assert_eq!(c.stamp(Mono(1_000), t0 + 1_500).2, None);
        let (_, w, change) = c.stamp(Mono(2_000), t0 + 3_600_000);
        assert!(!w.unsynced);
        assert!(matches!(change, Some(ClockChange::Jumped { jump_ms }) if jump_ms > 3_000_000));
    }
}
