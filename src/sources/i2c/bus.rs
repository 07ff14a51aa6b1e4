//! Talking to one address: transfers that turn bus errors into faults, the
//! Sensirion CRC, and the Linux `/dev/i2c-N` adapter with errno hints.

use std::fmt;
use std::io;
use std::ops::RangeInclusive;
use std::path::Path;

use embedded_hal::i2c::{self, ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};
use linux_embedded_hal::i2cdev::linux::LinuxI2CError;
use linux_embedded_hal::{I2CError, I2cdev};

use crate::reading::Fault;

/// Why a chip operation failed, before it is reported as a `Fault`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Error {
    /// Nothing acknowledged: no chip at the address (kept apart so a scan can skip it).
    NoAck,
    /// Anything else, already described.
    Fault(Fault),
}

impl From<Fault> for Error {
    fn from(f: Fault) -> Self {
        Error::Fault(f)
    }
}

/// One chip address on one bus, named in every message about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// The bus device, e.g. `/dev/i2c-1`.
    pub bus: String,
    /// The 7-bit address.
    pub addr: u8,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#04x} on {}", self.addr, self.bus)
    }
}

impl Target {
    /// The address `addr` on the bus at `bus`.
    pub fn new(bus: &Path, addr: u8) -> Target {
        Target {
            bus: bus.display().to_string(),
            addr,
        }
    }

    /// The fault to report for `e`.
    pub fn fault(&self, e: Error) -> Fault {
        match e {
            Error::NoAck => Fault::Io(format!("no ACK from {self}: check wiring and address")),
            Error::Fault(f) => f,
        }
    }

    /// Classifies a bus error; only a NACK may mean "nobody there".
    fn bus_error<E: i2c::Error>(&self, e: E) -> Error {
        let detail = match e.kind() {
            // Linux adapters (bcm2835 among them) cannot tell an address NACK
            // from a data NACK, so Unknown counts as "nobody there" too.
            ErrorKind::NoAcknowledge(
                NoAcknowledgeSource::Address | NoAcknowledgeSource::Unknown,
            ) => return Error::NoAck,
            ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data) => {
                format!("{self} refused a command byte (data NACK): is the configured chip model right?")
            }
            ErrorKind::Bus => {
                format!("bus error talking to {self} ({e:?}): check SDA/SCL wiring and pull-ups")
            }
            ErrorKind::ArbitrationLoss => {
                format!(
                    "arbitration lost talking to {self}: another I2C master or noise on the bus"
                )
            }
            _ => format!("I/O error talking to {self}: {e:?}"),
        };
        Error::Fault(Fault::Io(detail))
    }

    /// Sends `bytes` (a register pointer or a command) in one write.
    pub fn write<B: I2c>(&self, bus: &mut B, bytes: &[u8]) -> Result<(), Error> {
        bus.write(self.addr, bytes).map_err(|e| self.bus_error(e))
    }

    /// Fills `buf` with a plain read (no register pointer first).
    pub fn read_into<B: I2c>(&self, bus: &mut B, buf: &mut [u8]) -> Result<(), Error> {
        bus.read(self.addr, buf).map_err(|e| self.bus_error(e))
    }

    /// Reads `N` bytes from register `reg` (pointer write, repeated start, read).
    pub fn read_reg<B: I2c, const N: usize>(&self, bus: &mut B, reg: u8) -> Result<[u8; N], Error> {
        let mut buf = [0u8; N];
        bus.write_read(self.addr, &[reg], &mut buf)
            .map_err(|e| self.bus_error(e))?;
        Ok(buf)
    }

    /// Reads a big-endian 16-bit register.
    pub fn read_u16<B: I2c>(&self, bus: &mut B, reg: u8) -> Result<u16, Error> {
        self.read_reg::<B, 2>(bus, reg).map(u16::from_be_bytes)
    }

    /// Passes `c` if `model` can report it, else an out-of-range fault.
    pub fn in_range(&self, c: f64, range: RangeInclusive<f64>, model: &str) -> Result<f64, Error> {
        if range.contains(&c) {
            return Ok(c);
        }
        let (lo, hi) = (range.start(), range.end());
        Err(Fault::OutOfRange(format!(
            "{model} at {self} reported {c:.2} °C, outside its {lo}..{hi} °C range: a bus glitch or a failing chip"
        ))
        .into())
    }
}

/// Sensirion's CRC-8 (polynomial 0x31, init 0xFF), over each 16-bit word.
pub(super) fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0xFFu8;
    for &b in data {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x31
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The big-endian words of a Sensirion answer (`msb lsb crc` per word), or a CRC fault.
pub(super) fn sensirion_words<const N: usize>(frame: &[u8]) -> Result<[u16; N], Error> {
    let mut words = [0u16; N];
    for (word, chunk) in words.iter_mut().zip(frame.chunks_exact(3)) {
        if crc8(&chunk[..2]) != chunk[2] {
            return Err(Fault::Crc.into());
        }
        *word = u16::from_be_bytes([chunk[0], chunk[1]]);
    }
    Ok(words)
}

// Linux errno values (asm-generic, so the same on arm, arm64 and x86).
const ENOENT: i32 = 2;
const ENXIO: i32 = 6;
const EACCES: i32 = 13;
const EPERM: i32 = 1;
const EBUSY: i32 = 16;
const ENOTTY: i32 = 25;
const ETIMEDOUT: i32 = 110;
const EREMOTEIO: i32 = 121;

/// `/dev/i2c-N` through linux-embedded-hal, with errors that say what to do.
pub(super) struct LinuxBus(I2cdev);

/// An error from `/dev/i2c-N`: its kind, and a description with a hint.
pub(super) struct LinuxError {
    kind: ErrorKind,
    text: String,
}

impl fmt::Debug for LinuxError {
    // Debug is what `i2c::Error` exposes, and it ends up in fault details.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl i2c::Error for LinuxError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl ErrorType for LinuxBus {
    type Error = LinuxError;
}

impl I2c for LinuxBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), LinuxError> {
        I2c::transaction(&mut self.0, address, operations).map_err(|e| linux_error(&e))
    }
}

fn errno(e: &LinuxI2CError) -> Option<i32> {
    match e {
        LinuxI2CError::Errno(n) => Some(*n),
        LinuxI2CError::Io(e) => e.raw_os_error(),
    }
}

fn linux_error(e: &I2CError) -> LinuxError {
    use i2c::Error as _;
    let text = |hint: &str| format!("{} ({hint})", e.inner());
    match errno(e.inner()) {
        // bcm2835 reports every NACK as EREMOTEIO, which linux-embedded-hal calls Other.
        Some(EREMOTEIO | ENXIO) => LinuxError {
            kind: ErrorKind::NoAcknowledge(NoAcknowledgeSource::Unknown),
            text: e.inner().to_string(),
        },
        // I2C_SLAVE refuses addresses a kernel driver has bound.
        Some(EBUSY) => LinuxError {
            kind: ErrorKind::Other,
            text: text("a kernel driver owns this address: read it with kind = \"hwmon\", or remove the dtoverlay that binds it"),
        },
        Some(ETIMEDOUT) => LinuxError { kind: ErrorKind::Bus, text: text("bus timeout: SCL or SDA held low") },
        _ => LinuxError { kind: e.kind(), text: e.inner().to_string() },
    }
}

/// Opens `/dev/i2c-N`; the fault says how to enable or reach the bus.
pub(super) fn open_linux(path: &Path) -> Result<LinuxBus, Fault> {
    let e = match I2cdev::new(path) {
        Ok(dev) => return Ok(LinuxBus(dev)),
        Err(e) => e,
    };
    let p = path.display();
    Err(match errno(&e) {
        Some(ENOENT) => Fault::Missing(format!(
            "{p}: no such device: enable I2C (raspi-config / dtparam=i2c_arm=on) and check the bus number"
        )),
        Some(ENOTTY) => Fault::Missing(format!("{p} is not an I2C bus device (expected /dev/i2c-N)")),
        Some(EACCES | EPERM) => Fault::Io(format!("{p}: permission denied: add the service user to the i2c group")),
        _ => Fault::Io(format!("{p}: cannot open: {}", io::Error::from(e))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    fn target() -> Target {
        Target::new(Path::new("/dev/i2c-1"), 0x48)
    }

    #[test]
    fn crc8_matches_sensirion_example() {
        assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
    }

    #[test]
    fn sensirion_words_check_every_crc() {
        assert_eq!(
            sensirion_words::<2>(&[0xBE, 0xEF, 0x92, 0xBE, 0xEF, 0x92]),
            Ok([0xBEEF, 0xBEEF])
        );
        assert_eq!(
            sensirion_words::<2>(&[0xBE, 0xEF, 0x92, 0xBE, 0xEF, 0x93]),
            Err(Error::Fault(Fault::Crc))
        );
    }

    #[test]
    fn nack_becomes_io_fault_naming_address_and_bus() {
        let mut bus = Mock::new(&[T::write_read(0x48, vec![0x00], vec![0, 0])
            .with_error(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))]);
        let e = target().read_u16(&mut bus, 0x00).unwrap_err();
        assert_eq!(e, Error::NoAck);
        assert_eq!(
            target().fault(e),
            Fault::Io("no ACK from 0x48 on /dev/i2c-1: check wiring and address".into())
        );
        bus.done();
    }

    #[test]
    fn bus_error_is_io_with_wiring_hint() {
        let mut bus = Mock::new(&[T::write(0x48, vec![0xFD]).with_error(ErrorKind::Bus)]);
        let Err(Error::Fault(Fault::Io(msg))) = target().write(&mut bus, &[0xFD]) else {
            panic!("expected an Io fault")
        };
        assert!(
            msg.contains("0x48 on /dev/i2c-1") && msg.contains("pull-ups"),
            "{msg}"
        );
        bus.done();
    }

    #[test]
    fn range_check_names_the_chip() {
        assert_eq!(target().in_range(25.0, -40.0..=125.0, "TMP102"), Ok(25.0));
        let Err(Error::Fault(Fault::OutOfRange(msg))) =
            target().in_range(130.0, -40.0..=125.0, "TMP102")
        else {
            panic!("expected OutOfRange")
        };
        assert!(msg.contains("TMP102 at 0x48 on /dev/i2c-1"), "{msg}");
    }

    #[test]
    fn missing_bus_device_is_missing_with_enable_hint() {
        let Err(Fault::Missing(msg)) = open_linux(Path::new("/nonexistent/i2c-9")) else {
            panic!("expected Missing")
        };
        assert_eq!(
            msg,
            "/nonexistent/i2c-9: no such device: enable I2C (raspi-config / dtparam=i2c_arm=on) and check the bus number"
        );
    }

    #[test]
    fn non_i2c_device_is_missing() {
        assert!(
            matches!(open_linux(Path::new("/dev/null")), Err(Fault::Missing(m)) if m.contains("not an I2C bus"))
        );
    }
}
