//! Sensirion SHT3x and SHT4x: command-driven, with a CRC on every word.
//!
//! Neither has registers: a command starts a measurement (or an id read) and
//! the answer is fetched with a plain read once it is ready. Reading before
//! that gets a NACK, hence the waits.

use std::ops::RangeInclusive;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::bus::{sensirion_words, Error, Target};
use super::Id;
use crate::reading::Fault;

/// SHT4x: measure T and RH with high precision.
const SHT4X_MEASURE: [u8; 1] = [0xFD];
/// SHT4x: read the serial number.
const SHT4X_SERIAL: [u8; 1] = [0x89];
/// Longest high-precision measurement (8.3 ms) with margin.
const SHT4X_MEASURE_MS: u32 = 10;
/// Sensirion's drivers allow this long before fetching the serial number.
const SHT4X_SERIAL_MS: u32 = 10;

/// SHT3x: single shot, high repeatability, no clock stretching.
const SHT3X_MEASURE: [u8; 2] = [0x24, 0x00];
/// SHT3x: read the status register.
const SHT3X_STATUS: [u8; 2] = [0xF3, 0x2D];
/// Longest high-repeatability single shot (15.5 ms) with margin.
const SHT3X_MEASURE_MS: u32 = 16;
/// Command-to-read gap for the status register.
const SHT3X_STATUS_MS: u32 = 1;

/// What both families can measure.
const RANGE: RangeInclusive<f64> = -40.0..=125.0;

/// Sensirion's raw temperature word to °C (same formula for SHT3x and SHT4x).
pub(super) fn celsius(raw: u16) -> f64 {
    -45.0 + 175.0 * f64::from(raw) / 65535.0
}

/// Sends `command` and waits until the chip can answer it.
fn command<B: I2c, D: DelayNs>(
    bus: &mut B,
    delay: &mut D,
    t: &Target,
    command: &[u8],
    wait_ms: u32,
) -> Result<(), Error> {
    t.write(bus, command)?;
    delay.delay_ms(wait_ms);
    Ok(())
}

/// Fetches the answer: `N` CRC-checked words (at most two).
fn fetch<B: I2c, const N: usize>(bus: &mut B, t: &Target) -> Result<[u16; N], Error> {
    let mut frame = [0u8; 6];
    let frame = &mut frame[..N * 3];
    t.read_into(bus, frame)?;
    sensirion_words::<N>(frame)
}

/// Judges an identification answer.
///
/// Only the command write can tell "nobody there"; a NACK on the fetch after
/// an acknowledged command means something answered that does not speak it.
fn verdict(fetched: Result<(), Error>, no_answer: &str) -> Id {
    match fetched {
        Ok(()) => Id::Match,
        Err(Error::NoAck) => Id::Other(no_answer.to_string()),
        // Fault::Crc's own text speaks of 1-Wire.
        Err(Error::Fault(Fault::Crc)) => Id::Other(format!("{no_answer} (CRC mismatch)")),
        Err(Error::Fault(f)) => Id::Other(format!("{no_answer}: {f}")),
    }
}

/// Reads the SHT4x serial number: two words with valid CRCs mean an SHT4x.
pub(super) fn sht4x_identify<B: I2c, D: DelayNs>(
    bus: &mut B,
    delay: &mut D,
    t: &Target,
) -> Result<Id, Error> {
    command(bus, delay, t, &SHT4X_SERIAL, SHT4X_SERIAL_MS)?;
    let serial = fetch::<B, 2>(bus, t).map(drop);
    Ok(verdict(
        serial,
        "no valid answer to the SHT4x serial-number command (0x89)",
    ))
}

/// Reads the SHT3x status register: a word with a valid CRC means an SHT3x.
pub(super) fn sht3x_identify<B: I2c, D: DelayNs>(
    bus: &mut B,
    delay: &mut D,
    t: &Target,
) -> Result<Id, Error> {
    command(bus, delay, t, &SHT3X_STATUS, SHT3X_STATUS_MS)?;
    let status = fetch::<B, 1>(bus, t).map(drop);
    Ok(verdict(
        status,
        "no valid answer to the SHT3x status command (0xF32D)",
    ))
}

/// Measures with an SHT4x.
pub(super) fn sht4x_read<B: I2c, D: DelayNs>(
    bus: &mut B,
    delay: &mut D,
    t: &Target,
) -> Result<f64, Error> {
    command(bus, delay, t, &SHT4X_MEASURE, SHT4X_MEASURE_MS)?;
    // RH is checked too: a corrupted word anywhere means the bus mangles data.
    let [raw, _rh] = fetch::<B, 2>(bus, t)?;
    t.in_range(celsius(raw), RANGE, "SHT4x")
}

/// Measures with an SHT3x.
pub(super) fn sht3x_read<B: I2c, D: DelayNs>(
    bus: &mut B,
    delay: &mut D,
    t: &Target,
) -> Result<f64, Error> {
    command(bus, delay, t, &SHT3X_MEASURE, SHT3X_MEASURE_MS)?;
    let [raw, _rh] = fetch::<B, 2>(bus, t)?;
    t.in_range(celsius(raw), RANGE, "SHT3x")
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
    use std::path::Path;

    fn target() -> Target {
        Target::new(Path::new("/dev/i2c-1"), 0x44)
    }

    #[test]
    fn conversion_spans_the_formula() {
        assert_eq!(celsius(0), -45.0);
        assert_eq!(celsius(0xFFFF), 130.0);
        assert!((celsius(0x6666) - 25.0).abs() < 0.001);
    }

    #[test]
    fn sht4x_measures_with_crc() {
        let mut bus = Mock::new(&[
            T::write(0x44, vec![0xFD]),
            T::read(0x44, vec![0x66, 0x66, 0x93, 0xBE, 0xEF, 0x92]),
        ]);
        let c = sht4x_read(&mut bus, &mut NoopDelay, &target()).unwrap();
        assert!((c - 25.0).abs() < 0.001, "{c}");
        bus.done();
    }

    #[test]
    fn sht3x_measures_with_crc() {
        let mut bus = Mock::new(&[
            T::write(0x44, vec![0x24, 0x00]),
            T::read(0x44, vec![0x66, 0x66, 0x93, 0xBE, 0xEF, 0x92]),
        ]);
        let c = sht3x_read(&mut bus, &mut NoopDelay, &target()).unwrap();
        assert!((c - 25.0).abs() < 0.001, "{c}");
        bus.done();
    }

    #[test]
    fn crc_mismatch_is_crc_fault() {
        let mut bus = Mock::new(&[
            T::write(0x44, vec![0xFD]),
            T::read(0x44, vec![0x66, 0x66, 0x94, 0xBE, 0xEF, 0x92]),
        ]);
        assert_eq!(
            sht4x_read(&mut bus, &mut NoopDelay, &target()),
            Err(Error::Fault(Fault::Crc))
        );
        bus.done();
    }

    #[test]
    fn nack_on_command_is_no_ack() {
        let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let mut bus = Mock::new(&[T::write(0x44, vec![0xFD]).with_error(nack)]);
        assert_eq!(
            sht4x_read(&mut bus, &mut NoopDelay, &target()),
            Err(Error::NoAck)
        );
        bus.done();
    }

    #[test]
    fn identification_by_serial_and_status() {
        let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Unknown);
        let mut bus = Mock::new(&[
            T::write(0x44, vec![0x89]),
            T::read(0x44, vec![0x12, 0x34, 0x37, 0xBE, 0xEF, 0x92]),
            T::write(0x44, vec![0x89]),
            T::read(0x44, vec![0; 6]).with_error(nack),
            T::write(0x44, vec![0xF3, 0x2D]),
            T::read(0x44, vec![0x80, 0x10, 0xE1]),
        ]);
        assert_eq!(
            sht4x_identify(&mut bus, &mut NoopDelay, &target()),
            Ok(Id::Match)
        );
        assert!(matches!(
            sht4x_identify(&mut bus, &mut NoopDelay, &target()),
            Ok(Id::Other(_))
        ));
        assert_eq!(
            sht3x_identify(&mut bus, &mut NoopDelay, &target()),
            Ok(Id::Match)
        );
        bus.done();
    }
}
