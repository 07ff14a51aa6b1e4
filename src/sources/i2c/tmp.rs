//! Register-pointer thermometers: TI TMP102 and TMP117, Microchip MCP9808.
//!
//! All three convert continuously after power-up, so a reading is one
//! pointer write and a 16-bit read; nothing is ever written to their
//! configuration registers.

use std::ops::RangeInclusive;

use embedded_hal::i2c::I2c;

use super::bus::{Error, Target};
use super::Id;
use crate::reading::Fault;

/// TMP102 temperature register.
const TMP102_TEMP: u8 = 0x00;
/// TMP102 configuration register (read only here, as a signature).
const TMP102_CONFIG: u8 = 0x01;
/// The TMP102's operating range (extended mode reaches 150 °C).
const TMP102_RANGE: RangeInclusive<f64> = -55.0..=150.0;

/// TMP117 temperature register.
const TMP117_TEMP: u8 = 0x00;
/// TMP117 device-id register.
const TMP117_ID: u8 = 0x0F;
/// TMP117 device id in bits 11..0 (bits 15..12 are the silicon revision).
const TMP117_DEVICE_ID: u16 = 0x0117;
/// What the temperature register holds after reset until the first conversion.
const TMP117_NO_CONVERSION: u16 = 0x8000;
/// The TMP117's operating range.
const TMP117_RANGE: RangeInclusive<f64> = -55.0..=150.0;

/// MCP9808 ambient temperature register.
const MCP9808_TEMP: u8 = 0x05;
/// MCP9808 manufacturer-id register.
const MCP9808_MANUFACTURER: u8 = 0x06;
/// MCP9808 device-id/revision register.
const MCP9808_DEVICE: u8 = 0x07;
/// Microchip's manufacturer id.
const MCP9808_MANUFACTURER_ID: u16 = 0x0054;
/// The MCP9808 device id (high byte of register 0x07; the low byte is the revision).
const MCP9808_DEVICE_ID: u8 = 0x04;
/// The MCP9808's operating range.
const MCP9808_RANGE: RangeInclusive<f64> = -40.0..=125.0;

/// TMP102 register value to °C; bit 0 (EM) selects the 13-bit extended format.
pub(super) fn tmp102_celsius(raw: u16) -> f64 {
    let shift = if raw & 0x0001 != 0 { 3 } else { 4 };
    f64::from((raw as i16) >> shift) * 0.0625
}

/// TMP117 register value to °C (7.8125 m°C per LSB).
pub(super) fn tmp117_celsius(raw: u16) -> f64 {
    f64::from(raw as i16) * 0.0078125
}

/// MCP9808 ambient register to °C: bits 15..13 are alert flags, 12..0 a signed value.
pub(super) fn mcp9808_celsius(raw: u16) -> f64 {
    f64::from(((raw << 3) as i16) >> 3) * 0.0625
}

/// Tells a TMP102 by its configuration register, since it has no id register.
///
/// R1/R0 (bits 14..13) read as 1 and bits 3..0 read as 0 on every TMP102; an
/// ADS1115 or LM75 at the same addresses fails this, which a bare
/// temperature read would not show.
pub(super) fn tmp102_identify<B: I2c>(bus: &mut B, t: &Target) -> Result<Id, Error> {
    let config = t.read_u16(bus, TMP102_CONFIG)?;
    if config & 0x600F == 0x6000 {
        Ok(Id::Match)
    } else {
        Ok(Id::Other(format!(
            "its configuration register reads {config:#06x}, not a TMP102's"
        )))
    }
}

/// Reads a TMP102.
pub(super) fn tmp102_read<B: I2c>(bus: &mut B, t: &Target) -> Result<f64, Error> {
    let raw = t.read_u16(bus, TMP102_TEMP)?;
    t.in_range(tmp102_celsius(raw), TMP102_RANGE, "TMP102")
}

/// Checks the TMP117 device-id register.
pub(super) fn tmp117_identify<B: I2c>(bus: &mut B, t: &Target) -> Result<Id, Error> {
    let id = t.read_u16(bus, TMP117_ID)?;
    if id & 0x0FFF == TMP117_DEVICE_ID {
        Ok(Id::Match)
    } else {
        Ok(Id::Other(format!(
            "register 0x0f reads {id:#06x}, not a TMP117's device id"
        )))
    }
}

/// Reads a TMP117.
pub(super) fn tmp117_read<B: I2c>(bus: &mut B, t: &Target) -> Result<f64, Error> {
    let raw = t.read_u16(bus, TMP117_TEMP)?;
    if raw == TMP117_NO_CONVERSION {
        return Err(Fault::Parse(format!(
            "TMP117 at {t} has no conversion yet (0x8000 after reset): it just powered up, or a brown-out reset it"
        ))
        .into());
    }
    t.in_range(tmp117_celsius(raw), TMP117_RANGE, "TMP117")
}

/// Checks the MCP9808 manufacturer and device ids.
pub(super) fn mcp9808_identify<B: I2c>(bus: &mut B, t: &Target) -> Result<Id, Error> {
    let manufacturer = t.read_u16(bus, MCP9808_MANUFACTURER)?;
    let [device, _revision] = t.read_u16(bus, MCP9808_DEVICE)?.to_be_bytes();
    if manufacturer == MCP9808_MANUFACTURER_ID && device == MCP9808_DEVICE_ID {
        Ok(Id::Match)
    } else {
        Ok(Id::Other(format!(
            "manufacturer id {manufacturer:#06x} / device id {device:#04x}, not an MCP9808's 0x0054 / 0x04"
        )))
    }
}

/// Reads an MCP9808.
pub(super) fn mcp9808_read<B: I2c>(bus: &mut B, t: &Target) -> Result<f64, Error> {
    let raw = t.read_u16(bus, MCP9808_TEMP)?;
    t.in_range(mcp9808_celsius(raw), MCP9808_RANGE, "MCP9808")
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::ErrorKind;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
    use std::path::Path;

    fn target(addr: u8) -> Target {
        Target::new(Path::new("/dev/i2c-1"), addr)
    }

    #[test]
    fn tmp102_datasheet_values() {
        assert_eq!(tmp102_celsius(0x1900), 25.0);
        assert_eq!(tmp102_celsius(0xE700), -25.0);
        assert_eq!(tmp102_celsius(0x7FF0), 127.9375);
        assert_eq!(tmp102_celsius(0x0040), 0.25);
        assert_eq!(tmp102_celsius(0xFFC0), -0.25);
        assert_eq!(tmp102_celsius(0xC900), -55.0);
    }

    #[test]
    fn tmp102_extended_mode_uses_13_bits() {
        assert_eq!(tmp102_celsius(0x0C81), 25.0);
        assert_eq!(tmp102_celsius(0x4B01), 150.0);
        assert_eq!(tmp102_celsius(0xF381), -25.0);
    }

    #[test]
    fn tmp117_datasheet_values() {
        assert_eq!(tmp117_celsius(0x0C80), 25.0);
        assert_eq!(tmp117_celsius(0xFF80), -1.0);
        assert_eq!(tmp117_celsius(0x0001), 0.0078125);
    }

    #[test]
    fn mcp9808_masks_flags_and_sign_extends() {
        assert_eq!(mcp9808_celsius(0xC194), 25.25);
        assert_eq!(mcp9808_celsius(0x1FF0), -1.0);
        assert_eq!(mcp9808_celsius(0xFFF0), -1.0);
    }

    #[test]
    fn tmp102_read_over_the_bus() {
        let mut bus = Mock::new(&[T::write_read(0x48, vec![0x00], vec![0x19, 0x00])]);
        assert_eq!(tmp102_read(&mut bus, &target(0x48)), Ok(25.0));
        bus.done();
    }

    #[test]
    fn tmp102_signature_rejects_an_ads1115() {
        let mut bus = Mock::new(&[
            T::write_read(0x48, vec![0x01], vec![0x60, 0xA0]),
            T::write_read(0x48, vec![0x01], vec![0x85, 0x83]),
        ]);
        assert_eq!(tmp102_identify(&mut bus, &target(0x48)), Ok(Id::Match));
        assert!(
            matches!(tmp102_identify(&mut bus, &target(0x48)), Ok(Id::Other(m)) if m.contains("0x8583"))
        );
        bus.done();
    }

    #[test]
    fn tmp117_identifies_and_reads() {
        let mut bus = Mock::new(&[
            T::write_read(0x48, vec![0x0F], vec![0x01, 0x17]),
            T::write_read(0x48, vec![0x00], vec![0x0C, 0x80]),
        ]);
        assert_eq!(tmp117_identify(&mut bus, &target(0x48)), Ok(Id::Match));
        assert_eq!(tmp117_read(&mut bus, &target(0x48)), Ok(25.0));
        bus.done();
    }

    #[test]
    fn tmp117_reset_value_is_a_fault() {
        let mut bus = Mock::new(&[T::write_read(0x48, vec![0x00], vec![0x80, 0x00])]);
        assert!(
            matches!(tmp117_read(&mut bus, &target(0x48)), Err(Error::Fault(Fault::Parse(m))) if m.contains("0x8000"))
        );
        bus.done();
    }

    #[test]
    fn tmp117_wrong_id_names_what_was_found() {
        let mut bus = Mock::new(&[T::write_read(0x49, vec![0x0F], vec![0x50, 0x00])]);
        assert!(
            matches!(tmp117_identify(&mut bus, &target(0x49)), Ok(Id::Other(m)) if m.contains("0x5000"))
        );
        bus.done();
    }

    #[test]
    fn mcp9808_identifies_and_reads() {
        let mut bus = Mock::new(&[
            T::write_read(0x18, vec![0x06], vec![0x00, 0x54]),
            T::write_read(0x18, vec![0x07], vec![0x04, 0x01]),
            T::write_read(0x18, vec![0x05], vec![0xC1, 0x94]),
        ]);
        assert_eq!(mcp9808_identify(&mut bus, &target(0x18)), Ok(Id::Match));
        assert_eq!(mcp9808_read(&mut bus, &target(0x18)), Ok(25.25));
        bus.done();
    }

    #[test]
    fn impossible_value_is_out_of_range() {
        // 0x0FF0 is 255 °C in MCP9808 format, beyond anything it can measure.
        let mut bus = Mock::new(&[T::write_read(0x18, vec![0x05], vec![0x0F, 0xF0])]);
        assert!(matches!(
            mcp9808_read(&mut bus, &target(0x18)),
            Err(Error::Fault(Fault::OutOfRange(_)))
        ));
        bus.done();
    }

    #[test]
    fn nack_is_reported_as_no_ack() {
        let mut bus = Mock::new(&[T::write_read(0x48, vec![0x00], vec![0, 0]).with_error(
            ErrorKind::NoAcknowledge(embedded_hal::i2c::NoAcknowledgeSource::Unknown),
        )]);
        assert_eq!(tmp102_read(&mut bus, &target(0x48)), Err(Error::NoAck));
        bus.done();
    }
}
