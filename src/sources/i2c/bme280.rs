//! Bosch BME280, temperature only.
//!
//! The chip sleeps after power-up; each poll forces one measurement (so it
//! also sleeps between polls and self-heating stays negligible). The raw
//! value needs the chip's factory calibration, read once per bus open.

use std::ops::RangeInclusive;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::bus::{Error, Target};
use super::Id;
use crate::reading::Fault;

/// Chip-id register.
const CHIP_ID: u8 = 0xD0;
/// What a BME280 answers there.
const BME280_ID: u8 = 0x60;
/// First temperature calibration register (dig_T1..dig_T3, 6 bytes little-endian).
const CALIB_T: u8 = 0x88;
/// Humidity oversampling; takes effect at the next ctrl_meas write.
const CTRL_HUM: u8 = 0xF2;
/// Temperature/pressure oversampling and mode.
const CTRL_MEAS: u8 = 0xF4;
/// Humidity skipped: only temperature is used, and skipping shortens the conversion.
const CTRL_HUM_SKIP: u8 = 0x00;
/// osrs_t ×1 (bits 7..5), pressure skipped (osrs_p, bits 4..2 = 0), forced mode (bits 1..0).
const CTRL_MEAS_FORCED_T1: u8 = (0b001 << 5) | 0b01;
/// Temperature data, 20 bits in msb/lsb/xlsb.
const TEMP_DATA: u8 = 0xFA;
/// A T-only ×1 conversion takes at most 3.55 ms; the rest is margin.
const MEASURE_MS: u32 = 10;
/// The data registers' reset value: no measurement since power-up.
const NO_MEASUREMENT: i32 = 0x80000;
/// The BME280's operating range.
const RANGE: RangeInclusive<f64> = -40.0..=85.0;

/// Factory temperature calibration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Calib {
    /// dig_T1.
    pub t1: u16,
    /// dig_T2.
    pub t2: i16,
    /// dig_T3.
    pub t3: i16,
}

/// Bosch's integer compensation (datasheet 4.2.3) to °C, with 0.01 °C steps.
///
/// Done in i64: the datasheet's 32-bit version overflows for raw values
/// far from the calibration, which must become a range fault, not a panic.
pub(super) fn compensate(adc_t: i32, c: &Calib) -> f64 {
    let adc = i64::from(adc_t);
    let (t1, t2, t3) = (i64::from(c.t1), i64::from(c.t2), i64::from(c.t3));
    let var1 = (((adc >> 3) - (t1 << 1)) * t2) >> 11;
    let d = (adc >> 4) - t1;
    let var2 = (((d * d) >> 12) * t3) >> 14;
    let t_fine = var1 + var2;
    let centi = (t_fine * 5 + 128) >> 8;
    centi as f64 / 100.0
}

/// What a chip id other than the BME280's probably is, for the message.
fn chip_name(id: u8) -> &'static str {
    match id {
        0x56..=0x58 => " (a BMP280)",
        0x55 => " (a BMP180)",
        0x61 => " (a BME680)",
        0x50 => " (a BMP388)",
        _ => "",
    }
}

/// Checks the chip-id register.
pub(super) fn identify<B: I2c>(bus: &mut B, t: &Target) -> Result<Id, Error> {
    let [id] = t.read_reg::<B, 1>(bus, CHIP_ID)?;
    if id == BME280_ID {
        Ok(Id::Match)
    } else {
        Ok(Id::Other(format!(
            "chip id {id:#04x}{}, not a BME280's 0x60",
            chip_name(id)
        )))
    }
}

/// Reads the temperature calibration.
pub(super) fn calibration<B: I2c>(bus: &mut B, t: &Target) -> Result<Calib, Error> {
    let b = t.read_reg::<B, 6>(bus, CALIB_T)?;
    let c = Calib {
        t1: u16::from_le_bytes([b[0], b[1]]),
        t2: i16::from_le_bytes([b[2], b[3]]),
        t3: i16::from_le_bytes([b[4], b[5]]),
    };
    // Blank values mean the NVM copy has not finished (just powered) or it is unreadable.
    if c.t1 == 0 || c.t1 == 0xFFFF {
        return Err(Fault::Parse(format!(
            "BME280 at {t} has blank calibration (dig_T1 = {:#06x})",
            c.t1
        ))
        .into());
    }
    Ok(c)
}

/// Reads and compensates whatever the data registers hold.
fn last_value<B: I2c>(bus: &mut B, t: &Target, calib: &Calib) -> Result<f64, Error> {
    let [msb, lsb, xlsb] = t.read_reg::<B, 3>(bus, TEMP_DATA)?;
    let adc = (i32::from(msb) << 12) | (i32::from(lsb) << 4) | (i32::from(xlsb) >> 4);
    if adc == NO_MEASUREMENT {
        return Err(Fault::Parse(format!(
            "BME280 at {t} holds no measurement (0x80000): it is asleep since power-up, or temperature is switched off"
        ))
        .into());
    }
    t.in_range(compensate(adc, calib), RANGE, "BME280")
}

/// Forces one measurement and reads it.
pub(super) fn read<B: I2c, D: DelayNs>(
    bus: &mut B,
    delay: &mut D,
    t: &Target,
    calib: &Calib,
) -> Result<f64, Error> {
    t.write(bus, &[CTRL_HUM, CTRL_HUM_SKIP])?;
    t.write(bus, &[CTRL_MEAS, CTRL_MEAS_FORCED_T1])?;
    delay.delay_ms(MEASURE_MS);
    last_value(bus, t, calib)
}

/// The last stored measurement, without starting one (a scan writes no registers).
pub(super) fn read_stored<B: I2c>(bus: &mut B, t: &Target, calib: &Calib) -> Result<f64, Error> {
    last_value(bus, t, calib)
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
    use std::path::Path;

    /// The datasheet's worked example.
    const EXAMPLE: Calib = Calib {
        t1: 27504,
        t2: 26435,
        t3: -1000,
    };

    fn target() -> Target {
        Target::new(Path::new("/dev/i2c-1"), 0x76)
    }

    #[test]
    fn compensation_matches_datasheet_example() {
        assert_eq!(compensate(519888, &EXAMPLE), 25.08);
    }

    #[test]
    fn compensation_of_extreme_raw_does_not_overflow() {
        let c = compensate(
            0xFFFFF,
            &Calib {
                t1: 0,
                t2: i16::MAX,
                t3: i16::MIN,
            },
        );
        assert!(c.is_finite());
    }

    #[test]
    fn identifies_and_names_a_bmp280() {
        let mut bus = Mock::new(&[
            T::write_read(0x76, vec![0xD0], vec![0x60]),
            T::write_read(0x76, vec![0xD0], vec![0x58]),
        ]);
        assert_eq!(identify(&mut bus, &target()), Ok(Id::Match));
        assert!(
            matches!(identify(&mut bus, &target()), Ok(Id::Other(m)) if m.contains("0x58 (a BMP280)"))
        );
        bus.done();
    }

    #[test]
    fn forced_read_over_the_bus() {
        // 519888 = 0x7EED0 → msb 0x7E, lsb 0xED, xlsb 0x00.
        let mut bus = Mock::new(&[
            T::write_read(0x76, vec![0x88], vec![0x70, 0x6B, 0x43, 0x67, 0x18, 0xFC]),
            T::write(0x76, vec![0xF2, 0x00]),
            T::write(0x76, vec![0xF4, 0x21]),
            T::write_read(0x76, vec![0xFA], vec![0x7E, 0xED, 0x00]),
        ]);
        let calib = calibration(&mut bus, &target()).unwrap();
        assert_eq!(calib, EXAMPLE);
        assert_eq!(read(&mut bus, &mut NoopDelay, &target(), &calib), Ok(25.08));
        bus.done();
    }

    #[test]
    fn reset_value_and_blank_calibration_are_faults() {
        let mut bus = Mock::new(&[
            T::write_read(0x76, vec![0xFA], vec![0x80, 0x00, 0x00]),
            T::write_read(0x76, vec![0x88], vec![0; 6]),
        ]);
        assert!(matches!(
            read_stored(&mut bus, &target(), &EXAMPLE),
            Err(Error::Fault(Fault::Parse(_)))
        ));
        assert!(matches!(
            calibration(&mut bus, &target()),
            Err(Error::Fault(Fault::Parse(_)))
        ));
        bus.done();
    }
}
