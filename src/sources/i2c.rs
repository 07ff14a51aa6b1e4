//! I2C thermometers on `/dev/i2c-N`, driven from user space.
//!
//! The chip protocols are written against embedded-hal's `I2c` trait so tests
//! run them over mocks; production uses linux-embedded-hal. The bus is opened
//! on the first read, not at startup: a missing `/dev/i2c-1` (I2C not enabled
//! yet) is then a fault on that sensor rather than an agent that will not start,
//! and any error drops the bus so the next read opens it afresh.

mod bme280;
mod bus;
mod scan;
mod sht;
mod tmp;

use std::path::Path;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use linux_embedded_hal::Delay;

use self::bus::{open_linux, Error, LinuxBus, Target};
use super::Probe;
use crate::reading::{Fault, Mono};

/// A supported chip model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chip {
    Tmp102,
    Tmp117,
    Mcp9808,
    Sht3x,
    Sht4x,
    Bme280,
}

impl Chip {
    /// Every model, with its config name.
    const ALL: [(Chip, &'static str); 6] = [
        (Chip::Tmp102, "tmp102"),
        (Chip::Tmp117, "tmp117"),
        (Chip::Mcp9808, "mcp9808"),
        (Chip::Sht3x, "sht3x"),
        (Chip::Sht4x, "sht4x"),
        (Chip::Bme280, "bme280"),
    ];

    /// The model for a config name.
    fn parse(name: &str) -> Option<Chip> {
        Chip::ALL.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }

    /// The config name.
    fn name(self) -> &'static str {
        Chip::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("?", |(_, n)| n)
    }

    /// The name people know it by.
    fn model(self) -> &'static str {
        match self {
            Chip::Tmp102 => "TMP102",
            Chip::Tmp117 => "TMP117",
            Chip::Mcp9808 => "MCP9808",
            Chip::Sht3x => "SHT3x",
            Chip::Sht4x => "SHT4x",
            Chip::Bme280 => "BME280",
        }
    }
}

/// The outcome of asking an address whether it holds a given chip.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Id {
    /// It does.
    Match,
    /// Something answered, described here, but not that chip.
    Other(String),
}

/// What a chip needs remembered while its bus stays open.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Nothing.
    Plain,
    /// The BME280's calibration.
    Bme280(bme280::Calib),
}

/// Asks `t` whether it is a `chip`, using only reads and read-only commands.
fn identify<B: I2c, D: DelayNs>(
    chip: Chip,
    bus: &mut B,
    delay: &mut D,
    t: &Target,
) -> Result<Id, Error> {
    match chip {
        Chip::Tmp102 => tmp::tmp102_identify(bus, t),
        Chip::Tmp117 => tmp::tmp117_identify(bus, t),
        Chip::Mcp9808 => tmp::mcp9808_identify(bus, t),
        Chip::Sht3x => sht::sht3x_identify(bus, delay, t),
        Chip::Sht4x => sht::sht4x_identify(bus, delay, t),
        Chip::Bme280 => bme280::identify(bus, t),
    }
}

/// Loads what reads need once `t` is known to be a `chip`.
fn prepare<B: I2c>(chip: Chip, bus: &mut B, t: &Target) -> Result<State, Error> {
    match chip {
        Chip::Bme280 => bme280::calibration(bus, t).map(State::Bme280),
        _ => Ok(State::Plain),
    }
}

/// Checks that `t` is a `chip` and loads its state; a different chip is `Missing`.
fn init<B: I2c, D: DelayNs>(
    chip: Chip,
    bus: &mut B,
    delay: &mut D,
    t: &Target,
) -> Result<State, Error> {
    match identify(chip, bus, delay, t)? {
        Id::Match => prepare(chip, bus, t),
        Id::Other(found) => {
            Err(Fault::Missing(format!("no {} at {t}: {found}", chip.model())).into())
        }
    }
}

/// Takes one temperature reading from an initialised chip.
fn measure<B: I2c, D: DelayNs>(
    chip: Chip,
    state: &State,
    bus: &mut B,
    delay: &mut D,
    t: &Target,
) -> Result<f64, Error> {
    match (chip, state) {
        (Chip::Tmp102, _) => tmp::tmp102_read(bus, t),
        (Chip::Tmp117, _) => tmp::tmp117_read(bus, t),
        (Chip::Mcp9808, _) => tmp::mcp9808_read(bus, t),
        (Chip::Sht3x, _) => sht::sht3x_read(bus, delay, t),
        (Chip::Sht4x, _) => sht::sht4x_read(bus, delay, t),
        (Chip::Bme280, State::Bme280(calib)) => bme280::read(bus, delay, t, calib),
        (Chip::Bme280, State::Plain) => Err(Fault::Parse(format!(
            "BME280 at {t}: calibration not loaded (internal error)"
        ))
        .into()),
    }
}

/// A chip on a lazily opened bus: `open_bus` runs on the first read and after any error.
struct I2cProbe<B, D, F> {
    open_bus: F,
    delay: D,
    chip: Chip,
    target: Target,
    session: Option<(B, State)>,
}

impl<B, D, F> I2cProbe<B, D, F>
where
    B: I2c,
    D: DelayNs,
    F: FnMut() -> Result<B, Fault>,
{
    fn try_read(&mut self) -> Result<f64, Error> {
        let (bus, state) = match &mut self.session {
            Some(s) => s,
            None => {
                let mut bus = (self.open_bus)()?;
                let state = init(self.chip, &mut bus, &mut self.delay, &self.target)?;
                self.session.insert((bus, state))
            }
        };
        measure(self.chip, state, bus, &mut self.delay, &self.target)
    }
}

impl<B, D, F> Probe for I2cProbe<B, D, F>
where
    B: I2c + Send,
    D: DelayNs + Send,
    F: FnMut() -> Result<B, Fault> + Send,
{
    fn read(&mut self, _now: Mono) -> Result<f64, Fault> {
        let result = self.try_read();
        if result.is_err() {
            // Start over next time: the adapter may have gone and come back
            // (USB bridges, module reloads) or the chip may have been swapped.
            self.session = None;
        }
        result.map_err(|e| self.target.fault(e))
    }
}

/// A probe for a chip name the config should have refused.
struct UnknownChip(String);

impl Probe for UnknownChip {
    fn read(&mut self, _now: Mono) -> Result<f64, Fault> {
        let known: Vec<&str> = Chip::ALL.iter().map(|(_, n)| *n).collect();
        Err(Fault::Missing(format!(
            "unknown I2C chip {:?}: supported are {}",
            self.0,
            known.join(", ")
        )))
    }
}

/// Opens the probe for `chip` at `address` on `bus`; the bus itself is opened on the first read.
pub fn open(bus: &Path, chip: &str, address: u8) -> Box<dyn Probe> {
    let Some(chip) = Chip::parse(chip) else {
        return Box::new(UnknownChip(chip.to_string()));
    };
    let path = bus.to_path_buf();
    Box::new(I2cProbe::<LinuxBus, _, _> {
        open_bus: move || open_linux(&path),
        delay: Delay,
        chip,
        target: Target::new(bus, address),
        session: None,
    })
}

/// Looks for supported chips at their usual addresses on `bus`, for `edgetherm scan`.
///
/// Each entry is (config chip name, address, a reading or why there is none).
/// Only reads and read-only commands are sent; a BME280 therefore reports the
/// last measurement it stored. If the bus cannot be opened, the one entry has
/// an empty chip name, address 0, and the fault saying why.
pub fn probe_bus(bus: &Path) -> Vec<(String, u8, Result<f64, Fault>)> {
    match open_linux(bus) {
        Ok(mut dev) => scan::scan(&mut dev, &mut Delay, bus),
        Err(f) => vec![(String::new(), 0, Err(f))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A probe over `mock`, counting how often the bus is opened.
    fn probe(chip: Chip, mock: &Mock, opens: &Arc<AtomicUsize>) -> impl Probe {
        let (mock, opens) = (mock.clone(), opens.clone());
        I2cProbe {
            open_bus: move || {
                opens.fetch_add(1, Ordering::SeqCst);
                Ok(mock.clone())
            },
            delay: NoopDelay,
            chip,
            target: Target::new(Path::new("/dev/i2c-1"), 0x48),
            session: None,
        }
    }

    #[test]
    fn chip_names_match_config() {
        for name in ["tmp102", "tmp117", "mcp9808", "sht3x", "sht4x", "bme280"] {
            assert_eq!(Chip::parse(name).map(Chip::name), Some(name));
        }
        assert_eq!(Chip::parse("lm75"), None);
    }

    #[test]
    fn missing_bus_is_a_missing_reading_not_an_open_failure() {
        let mut p = open(Path::new("/nonexistent/i2c-1"), "tmp102", 0x48);
        let Err(Fault::Missing(msg)) = p.read(Mono(0)) else {
            panic!("expected Missing")
        };
        assert!(
            msg.contains("enable I2C (raspi-config / dtparam=i2c_arm=on)"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_chip_is_missing() {
        let mut p = open(Path::new("/dev/i2c-1"), "lm75", 0x48);
        assert!(matches!(p.read(Mono(0)), Err(Fault::Missing(m)) if m.contains("lm75")));
    }

    #[test]
    fn identifies_once_then_reads() {
        let mut mock = Mock::new(&[
            T::write_read(0x48, vec![0x0F], vec![0x01, 0x17]),
            T::write_read(0x48, vec![0x00], vec![0x0C, 0x80]),
            T::write_read(0x48, vec![0x00], vec![0xFF, 0x80]),
        ]);
        let opens = Arc::new(AtomicUsize::new(0));
        let mut p = probe(Chip::Tmp117, &mock, &opens);
        assert_eq!(p.read(Mono(0)), Ok(25.0));
        assert_eq!(p.read(Mono(1)), Ok(-1.0));
        assert_eq!(opens.load(Ordering::SeqCst), 1);
        mock.done();
    }

    #[test]
    fn nack_is_io_fault_and_reopens() {
        let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let mut mock = Mock::new(&[
            T::write_read(0x48, vec![0x01], vec![0x60, 0xA0]),
            T::write_read(0x48, vec![0x00], vec![0, 0]).with_error(nack),
            T::write_read(0x48, vec![0x01], vec![0x60, 0xA0]),
            T::write_read(0x48, vec![0x00], vec![0x19, 0x00]),
        ]);
        let opens = Arc::new(AtomicUsize::new(0));
        let mut p = probe(Chip::Tmp102, &mock, &opens);
        assert_eq!(
            p.read(Mono(0)),
            Err(Fault::Io(
                "no ACK from 0x48 on /dev/i2c-1: check wiring and address".into()
            ))
        );
        assert_eq!(p.read(Mono(1)), Ok(25.0));
        assert_eq!(opens.load(Ordering::SeqCst), 2);
        mock.done();
    }

    #[test]
    fn wrong_chip_is_missing_naming_what_was_found() {
        let mut mock = Mock::new(&[T::write_read(0x48, vec![0x01], vec![0x85, 0x83])]);
        let opens = Arc::new(AtomicUsize::new(0));
        let mut p = probe(Chip::Tmp102, &mock, &opens);
        let Err(Fault::Missing(msg)) = p.read(Mono(0)) else {
            panic!("expected Missing")
        };
        assert!(
            msg.starts_with("no TMP102 at 0x48 on /dev/i2c-1") && msg.contains("0x8583"),
            "{msg}"
        );
        mock.done();
    }

    #[test]
    fn crc_fault_from_sht4x_probe() {
        let mut mock = Mock::new(&[
            T::write(0x48, vec![0x89]),
            T::read(0x48, vec![0x12, 0x34, 0x37, 0xBE, 0xEF, 0x92]),
            T::write(0x48, vec![0xFD]),
            T::read(0x48, vec![0x66, 0x66, 0x00, 0xBE, 0xEF, 0x92]),
        ]);
        let opens = Arc::new(AtomicUsize::new(0));
        let mut p = probe(Chip::Sht4x, &mock, &opens);
        assert_eq!(p.read(Mono(0)), Err(Fault::Crc));
        mock.done();
    }
}
