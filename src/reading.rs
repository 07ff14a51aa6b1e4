//! What a sensor produces: a temperature or a fault, stamped with both clocks.

use std::fmt;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Monotonic milliseconds. Rule durations run on this clock, so a wall-clock
/// jump can neither fire nor resolve anything. The agent's clock starts at
/// `Mono::ORIGIN` rather than 0 so that moments before the start (restored
/// from the store) can be expressed without going negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mono(pub u64);

impl Mono {
    /// Where the agent's monotonic clock starts (about 34 years of headroom).
    pub const ORIGIN: Mono = Mono(1 << 40);

    /// Milliseconds from `earlier` to `self` (0 if `earlier` is later).
    pub fn since(self, earlier: Mono) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `self` plus `ms` milliseconds.
    pub fn plus_ms(self, ms: u64) -> Mono {
        Mono(self.0.saturating_add(ms))
    }
}

/// A wall-clock stamp (Unix milliseconds) and whether it can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Wall {
    /// Milliseconds since the Unix epoch.
    pub ms: i64,
    /// True when the stamp was estimated because the system clock was not
    /// synchronised (e.g. a Pi without RTC that booted near 1970).
    pub unsynced: bool,
}

impl Wall {
    /// RFC 3339 UTC with milliseconds, as the wire format wants.
    pub fn rfc3339(self) -> String {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(self.ms.max(0) as u64);
        humantime::format_rfc3339_millis(t).to_string()
    }

    /// The system clock now, unflagged.
    pub fn system_now() -> Wall {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Wall {
            ms,
            unsynced: false,
        }
    }
}

/// Why a sensor produced no temperature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The sensor's answer failed its CRC (DS18B20 `crc=.. NO`, Sensirion CRC-8).
    Crc,
    /// 85.0 °C as a first read or a sudden jump: the DS18B20 power-on value, not a measurement.
    PowerOn,
    /// -127 °C, all-zero or all-ones scratchpad: the sensor is not answering.
    Disconnected,
    /// The device or input is not present (vanished, wrong id, driver not loaded).
    Missing(String),
    /// Reading failed with an I/O error.
    Io(String),
    /// The sensor answered something that is not a temperature.
    Parse(String),
    /// The read did not finish in time.
    Timeout,
    /// A value outside what the sensor can physically report.
    OutOfRange(String),
    /// A simulated fault (`kind = "sim"` points with `fault = true`).
    Simulated,
}

impl Fault {
    /// A short stable code for storage and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Fault::Crc => "crc",
            Fault::PowerOn => "power_on_85",
            Fault::Disconnected => "disconnected",
            Fault::Missing(_) => "missing",
            Fault::Io(_) => "io",
            Fault::Parse(_) => "parse",
            Fault::Timeout => "timeout",
            Fault::OutOfRange(_) => "out_of_range",
            Fault::Simulated => "simulated",
        }
    }

    /// Rebuilds a fault from its code and detail (as stored).
    pub fn from_code(code: &str, detail: &str) -> Fault {
        let d = detail.to_string();
        match code {
            "crc" => Fault::Crc,
            "power_on_85" => Fault::PowerOn,
            "disconnected" => Fault::Disconnected,
            "missing" => Fault::Missing(d),
            "timeout" => Fault::Timeout,
            "out_of_range" => Fault::OutOfRange(d),
            "simulated" => Fault::Simulated,
            "parse" => Fault::Parse(d),
            _ => Fault::Io(d),
        }
    }

    /// The detail text, if the fault carries one.
    pub fn detail(&self) -> &str {
        match self {
            Fault::Missing(d) | Fault::Io(d) | Fault::Parse(d) | Fault::OutOfRange(d) => d,
            _ => "",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Crc => f.write_str(
                "CRC mismatch in the sensor's answer (electrical noise or a loose wire on its bus)",
            ),
            Fault::PowerOn => f.write_str(
                "85.0 °C power-on value before a first conversion (sensor reset or brown-out)",
            ),
            Fault::Disconnected => f.write_str(
                "sensor not answering (-127 °C / empty scratchpad): check wiring and pull-up",
            ),
            Fault::Missing(d) => write!(f, "sensor not found: {d}"),
            Fault::Io(d) => write!(f, "read error: {d}"),
            Fault::Parse(d) => write!(f, "unreadable value: {d}"),
            Fault::Timeout => f.write_str("read timed out"),
            Fault::OutOfRange(d) => write!(f, "value out of range: {d}"),
            Fault::Simulated => f.write_str("simulated fault"),
        }
    }
}

/// One reading from one sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The sensor's id.
    pub sensor: String,
    /// When it was taken, on the monotonic clock.
    pub mono: Mono,
    /// When it was taken, on the wall clock (possibly estimated).
    pub wall: Wall,
    /// °C, or why there is none.
    pub value: Result<f64, Fault>,
}

/// A reading as a source produces it, before the core stamps it with a
/// checked wall clock (see `clock::Clock`).
#[derive(Debug, Clone, PartialEq)]
pub struct RawReading {
    /// Sensor id.
    pub sensor: String,
    /// Monotonic time of the read.
    pub mono: Mono,
    /// System clock at the read (ms), not yet checked.
    pub system_ms: i64,
    /// °C, or why there is none.
    pub value: Result<f64, Fault>,
}

/// Readings handed from a source to the core in one go: a source that has
/// several at once (an MQTT burst) sends them together, so the core wakes,
/// evaluates and commits once per batch rather than once per reading.
pub type RawBatch = Vec<RawReading>;

/// The agent's monotonic clock, started once.
#[derive(Debug, Clone, Copy)]
pub struct MonoClock {
    start: Instant,
}

impl MonoClock {
    /// Starts the clock at zero now.
    pub fn start() -> MonoClock {
        MonoClock {
            start: Instant::now(),
        }
    }

    /// Now: `Mono::ORIGIN` plus the milliseconds since start.
    pub fn now(&self) -> Mono {
        Mono::ORIGIN.plus_ms(self.start.elapsed().as_millis() as u64)
    }

    /// Milliseconds since start.
    pub fn uptime_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}
