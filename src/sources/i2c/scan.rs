//! `edgetherm scan`: which supported chips answer where.
//!
//! Only each chip's usual addresses are asked, and only with reads and
//! read-only commands: a scan must not reconfigure whatever else shares the
//! bus (an ADS1115 at 0x48, an accelerometer at 0x18).

use std::path::Path;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::bus::{Error, Target};
use super::{bme280, identify, measure, Chip, Id, State};
use crate::reading::Fault;

/// Address ranges, and the chips that can sit there in the order to try them.
///
/// TMP117 goes before TMP102 because it has an id register and the TMP102
/// does not; SHT4x before SHT3x because its one-byte id command is only an
/// incomplete command to an SHT3x.
const CANDIDATES: &[(u8, u8, &[Chip])] = &[
    (0x18, 0x1F, &[Chip::Mcp9808]),
    (0x44, 0x45, &[Chip::Sht4x, Chip::Sht3x]),
    (0x46, 0x46, &[Chip::Sht4x]),
    (0x48, 0x4B, &[Chip::Tmp117, Chip::Tmp102]),
    (0x76, 0x77, &[Chip::Bme280]),
];

/// Scans `bus` (named `path` in messages) for every candidate address.
pub(super) fn scan<B: I2c, D: DelayNs>(
    bus: &mut B,
    delay: &mut D,
    path: &Path,
) -> Vec<(String, u8, Result<f64, Fault>)> {
    let mut found = Vec::new();
    for &(first, last, chips) in CANDIDATES {
        for addr in first..=last {
            let t = Target::new(path, addr);
            if let Some((chip, value)) = scan_address(bus, delay, &t, chips) {
                found.push((chip.name().to_string(), addr, value));
            }
        }
    }
    found
}

/// Tries each of `chips` at `t`; None when nothing answered at all.
fn scan_address<B: I2c, D: DelayNs>(
    bus: &mut B,
    delay: &mut D,
    t: &Target,
    chips: &[Chip],
) -> Option<(Chip, Result<f64, Fault>)> {
    let mut seen = Vec::new();
    let mut guess = None;
    for &chip in chips {
        match identify(chip, bus, delay, t) {
            Ok(Id::Match) => {
                return Some((chip, scan_read(chip, bus, delay, t).map_err(|e| t.fault(e))))
            }
            Ok(Id::Other(what)) => {
                seen.push(what);
                guess = Some(chip);
            }
            // Linux cannot tell a NACKed id-register pointer from an empty
            // address, so only "no chip answered any id" means empty.
            Err(Error::NoAck) => {}
            Err(Error::Fault(f)) => return Some((chip, Err(f))),
        }
    }
    let guess = guess?;
    let detail = format!(
        "{t} answers but holds no supported chip: {}",
        seen.join("; ")
    );
    Some((guess, Err(Fault::Missing(detail))))
}

/// One reading from an identified chip, without writing any register.
fn scan_read<B: I2c, D: DelayNs>(
    chip: Chip,
    bus: &mut B,
    delay: &mut D,
    t: &Target,
) -> Result<f64, Error> {
    match chip {
        // Forcing a conversion means writing ctrl_meas, so take what is stored.
        Chip::Bme280 => {
            let calib = bme280::calibration(bus, t)?;
            bme280::read_stored(bus, t, &calib)
        }
        _ => measure(chip, &State::Plain, bus, delay, t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, ErrorType, NoAcknowledgeSource, Operation};
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use std::collections::HashMap;

    /// A simulated chip.
    enum Dev {
        /// 16-bit big-endian registers behind a pointer (TMP1xx, MCP9808, ADS1115).
        Words(HashMap<u8, u16>),
        /// Auto-incrementing byte registers (BME280).
        Bytes(HashMap<u8, u8>),
        /// Sensirion style: command → answer.
        Commands(HashMap<Vec<u8>, Vec<u8>>),
        /// Bound by a kernel driver: every transfer fails without a NACK.
        Owned,
    }

    /// A bus of simulated chips that NACKs what they do not know, like bcm2835 does.
    #[derive(Default)]
    struct Fake {
        devs: HashMap<u8, Dev>,
        last_write: HashMap<u8, Vec<u8>>,
        writes: Vec<(u8, Vec<u8>)>,
    }

    const NACK: ErrorKind = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Unknown);

    impl ErrorType for Fake {
        type Error = ErrorKind;
    }

    impl I2c for Fake {
        fn transaction(&mut self, addr: u8, ops: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
            let dev = self
                .devs
                .get(&addr)
                .ok_or(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))?;
            for op in ops {
                match op {
                    Operation::Write(bytes) => {
                        self.writes.push((addr, bytes.to_vec()));
                        let known = match dev {
                            Dev::Words(regs) => regs.contains_key(&bytes[0]),
                            Dev::Bytes(regs) => regs.contains_key(&bytes[0]),
                            Dev::Commands(answers) => answers.contains_key(&bytes.to_vec()),
                            Dev::Owned => return Err(ErrorKind::Other),
                        };
                        if !known {
                            return Err(NACK);
                        }
                        self.last_write.insert(addr, bytes.to_vec());
                    }
                    Operation::Read(buf) => {
                        let last = self.last_write.get(&addr).ok_or(NACK)?;
                        match dev {
                            Dev::Words(regs) => buf.copy_from_slice(&regs[&last[0]].to_be_bytes()),
                            Dev::Bytes(regs) => {
                                for (i, b) in buf.iter_mut().enumerate() {
                                    *b = regs.get(&(last[0] + i as u8)).copied().unwrap_or(0);
                                }
                            }
                            Dev::Commands(answers) => {
                                buf.copy_from_slice(&answers[last][..buf.len()])
                            }
                            Dev::Owned => return Err(ErrorKind::Other),
                        }
                    }
                }
            }
            Ok(())
        }
    }

    fn words(regs: &[(u8, u16)]) -> Dev {
        Dev::Words(regs.iter().copied().collect())
    }

    fn commands(answers: &[(&[u8], &[u8])]) -> Dev {
        Dev::Commands(
            answers
                .iter()
                .map(|(c, a)| (c.to_vec(), a.to_vec()))
                .collect(),
        )
    }

    fn bytes(start: u8, values: &[u8]) -> impl Iterator<Item = (u8, u8)> + '_ {
        values
            .iter()
            .enumerate()
            .map(move |(i, v)| (start + i as u8, *v))
    }

    /// 25 °C with valid CRCs, as both SHT families answer a measurement.
    const SHT_25C: &[u8] = &[0x66, 0x66, 0x93, 0xBE, 0xEF, 0x92];

    fn populated() -> Fake {
        let mut bme = HashMap::new();
        bme.extend(bytes(0xD0, &[0x60]));
        bme.extend(bytes(0x88, &[0x70, 0x6B, 0x43, 0x67, 0x18, 0xFC]));
        bme.extend(bytes(0xF2, &[0x00, 0x00, 0x00]));
        bme.extend(bytes(0xFA, &[0x7E, 0xED, 0x00]));
        let devs = HashMap::from([
            (
                0x18,
                words(&[(0x05, 0xC194), (0x06, 0x0054), (0x07, 0x0400)]),
            ),
            (0x19, words(&[(0x06, 0x1234), (0x07, 0x5600)])),
            (
                0x44,
                commands(&[
                    (&[0x89], &[0x12, 0x34, 0x37, 0xBE, 0xEF, 0x92]),
                    (&[0xFD], SHT_25C),
                ]),
            ),
            (
                0x45,
                commands(&[
                    (&[0xF3, 0x2D], &[0x80, 0x10, 0xE1]),
                    (&[0x24, 0x00], SHT_25C),
                ]),
            ),
            (
                0x48,
                words(&[(0x00, 0x0C80), (0x01, 0x0220), (0x0F, 0x0117)]),
            ),
            (0x49, words(&[(0x00, 0x1900), (0x01, 0x60A0)])),
            (
                0x4A,
                words(&[(0x00, 0x1900), (0x01, 0x8583), (0x03, 0x7FFF)]),
            ),
            (0x76, Dev::Bytes(bme)),
            (0x77, Dev::Bytes(bytes(0xD0, &[0x58]).collect())),
        ]);
        Fake {
            devs,
            ..Fake::default()
        }
    }

    fn scan_fake(fake: &mut Fake) -> Vec<(String, u8, Result<f64, Fault>)> {
        scan(fake, &mut NoopDelay, Path::new("/dev/i2c-1"))
    }

    #[test]
    fn identifies_each_supported_chip() {
        let got = scan_fake(&mut populated());
        let summary: Vec<(&str, u8, Option<f64>)> = got
            .iter()
            .map(|(c, a, v)| {
                (
                    c.as_str(),
                    *a,
                    v.as_ref().ok().map(|t| (t * 100.0).round() / 100.0),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("mcp9808", 0x18, Some(25.25)),
                ("mcp9808", 0x19, None),
                ("sht4x", 0x44, Some(25.0)),
                ("sht3x", 0x45, Some(25.0)),
                ("tmp117", 0x48, Some(25.0)),
                ("tmp102", 0x49, Some(25.0)),
                ("tmp102", 0x4A, None),
                ("bme280", 0x76, Some(25.08)),
                ("bme280", 0x77, None),
            ]
        );
    }

    #[test]
    fn foreign_chips_are_missing_naming_what_answered() {
        let got = scan_fake(&mut populated());
        let fault = |addr: u8| {
            got.iter()
                .find(|(_, a, _)| *a == addr)
                .and_then(|(_, _, v)| v.clone().err())
        };
        assert!(matches!(fault(0x19), Some(Fault::Missing(m)) if m.contains("0x1234")));
        assert!(matches!(fault(0x4A), Some(Fault::Missing(m)) if m.contains("0x8583")));
        assert!(matches!(fault(0x77), Some(Fault::Missing(m)) if m.contains("BMP280")));
    }

    #[test]
    fn writes_only_pointers_and_read_only_commands() {
        let mut fake = populated();
        scan_fake(&mut fake);
        let allowed: [&[u8]; 4] = [&[0x89], &[0xFD], &[0xF3, 0x2D], &[0x24, 0x00]];
        for (addr, bytes) in &fake.writes {
            let ok = match fake.devs[addr] {
                Dev::Commands(_) => allowed.contains(&bytes.as_slice()),
                _ => bytes.len() == 1,
            };
            assert!(ok, "scan wrote {bytes:02x?} to {addr:#04x}");
        }
    }

    #[test]
    fn empty_bus_finds_nothing() {
        assert!(scan_fake(&mut Fake::default()).is_empty());
    }

    #[test]
    fn bme280_without_stored_measurement_is_reported_as_found() {
        let mut fake = populated();
        fake.devs.retain(|a, _| *a == 0x76);
        if let Some(Dev::Bytes(regs)) = fake.devs.get_mut(&0x76) {
            regs.extend(bytes(0xFA, &[0x80, 0x00, 0x00]));
        }
        let got = scan_fake(&mut fake);
        assert!(matches!(got.as_slice(), [(c, 0x76, Err(Fault::Parse(_)))] if c == "bme280"));
    }

    #[test]
    fn address_owned_by_a_kernel_driver_is_reported() {
        let mut fake = Fake {
            devs: HashMap::from([(0x48, Dev::Owned)]),
            ..Fake::default()
        };
        let got = scan_fake(&mut fake);
        assert!(
            matches!(got.as_slice(), [(_, 0x48, Err(Fault::Io(_)))]),
            "{got:?}"
        );
    }
}
