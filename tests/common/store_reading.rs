//! A reading at a wall-clock stamp, for the store tests.

use edgetherm::reading::{Fault, Mono, Reading, Wall};

/// `sensor`'s reading `v` stamped `ms` (trusted clock).
pub fn reading(sensor: &str, ms: i64, v: Result<f64, Fault>) -> Reading {
    Reading {
        sensor: sensor.into(),
        mono: Mono::ORIGIN,
        wall: Wall {
            ms,
            unsynced: false,
        },
        value: v,
    }
}
