//! DS18B20 and friends through the kernel's w1_therm driver.
//!
//! Newer kernels offer a `temperature` attribute (plain millidegrees); all of
//! them offer `w1_slave`, two lines of scratchpad hex with the CRC verdict and
//! the converted value. The driver reports the sensor's failure modes as
//! plausible-looking numbers, so those are turned into faults here.

use std::path::{Path, PathBuf};

use super::{io_fault, is_gone, milli_to_c, parse_millideg, read_attr, Probe};
use crate::reading::{Fault, Mono};

/// What the sensor holds after power-on until its first conversion.
const POWER_ON_MILLI: i64 = 85_000;
/// The conventional "no sensor" value.
const DISCONNECTED_MILLI: i64 = -127_000;
/// A real 85.0 °C is believed only right after readings this hot.
const POWER_ON_TRUST_ABOVE: f64 = 75.0;
/// What the DS18B20 can measure.
const RANGE: std::ops::RangeInclusive<f64> = -55.0..=125.0;

/// Family codes of 1-Wire thermometers that w1_therm serves.
pub const THERM_FAMILIES: &[&str] = &["10", "22", "28", "3b", "42"];

/// The chip usually behind a family code, for people.
pub fn family_model(device: &str) -> &'static str {
    match device.get(..3) {
        Some("10-") => "DS18S20",
        Some("22-") => "DS1822",
        Some("28-") => "DS18B20",
        Some("3b-") => "DS1825/MAX31850",
        Some("42-") => "DS28EA00",
        _ => "1-Wire sensor",
    }
}

/// The directory that holds all 1-Wire devices under `sysfs_root`.
pub fn devices_dir(sysfs_root: &Path) -> PathBuf {
    sysfs_root.join("sys/bus/w1/devices")
}

/// A 1-Wire thermometer read through sysfs.
#[derive(Debug)]
pub struct W1Probe {
    dir: PathBuf,
    /// The last temperature this probe accepted, to judge an 85.0 °C.
    last_good: Option<f64>,
}

impl W1Probe {
    /// A probe for `device` (e.g. `28-0316a2791bff`) under `sysfs_root`.
    pub fn new(sysfs_root: &Path, device: &str) -> W1Probe {
        W1Probe {
            dir: devices_dir(sysfs_root).join(device),
            last_good: None,
        }
    }

    fn read_milli(&self) -> Result<i64, Fault> {
        if !self.dir.is_dir() {
            return Err(self.missing());
        }
        let attr = self.dir.join("temperature");
        match read_attr(&attr) {
            Ok(text) => return parse_millideg(&text, &attr).map_err(|f| empty_hint(f, &text)),
            Err(e) if !is_gone(&e) => return Err(io_fault(&attr, &e)),
            Err(_) => {} // older kernel: only w1_slave
        }
        let slave = self.dir.join("w1_slave");
        match read_attr(&slave) {
            Ok(text) => parse_w1_slave(&text),
            Err(e) if is_gone(&e) && !self.dir.is_dir() => Err(self.missing()),
            Err(e) if is_gone(&e) => Err(Fault::Missing(format!(
                "{} has neither `temperature` nor `w1_slave`: is the w1_therm module loaded, and is this a thermometer?",
                self.dir.display()
            ))),
            Err(e) => Err(io_fault(&slave, &e)),
        }
    }

    fn missing(&self) -> Fault {
        Fault::Missing(format!(
            "{} does not exist: is the w1-gpio overlay loaded and the id right?",
            self.dir.display()
        ))
    }

    /// Turns a raw value into a temperature or a fault, remembering good ones.
    fn judge(&mut self, milli: i64) -> Result<f64, Fault> {
        if milli == DISCONNECTED_MILLI {
            return Err(Fault::Disconnected);
        }
        if milli == POWER_ON_MILLI && self.last_good.is_none_or(|v| v < POWER_ON_TRUST_ABOVE) {
            return Err(Fault::PowerOn);
        }
        let c = milli_to_c(milli);
        if !RANGE.contains(&c) {
            return Err(Fault::OutOfRange(format!(
                "{c} °C is outside the sensor's -55..125 °C"
            )));
        }
        self.last_good = Some(c);
        Ok(c)
    }
}

impl Probe for W1Probe {
    fn read(&mut self, _now: Mono) -> Result<f64, Fault> {
        let out = self.read_milli().and_then(|m| self.judge(m));
        // A sensor that dropped off the bus comes back freshly powered, so its
        // first 85.0 °C afterwards is a reset like any first read.
        if matches!(out, Err(Fault::Missing(_) | Fault::Disconnected)) {
            self.last_good = None;
        }
        out
    }
}

/// Newer kernels answer an empty read when the conversion failed.
fn empty_hint(f: Fault, text: &str) -> Fault {
    match f {
        Fault::Parse(d) if text.trim().is_empty() => {
            Fault::Parse(format!("{d} (the driver could not read the sensor)"))
        }
        other => other,
    }
}

/// Parses the kernel's two-line `w1_slave` text into millidegrees.
///
/// ```text
/// 72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
/// 72 01 4b 46 7f ff 0e 10 57 t=23125
/// ```
pub fn parse_w1_slave(text: &str) -> Result<i64, Fault> {
    let parse = |why: &str| Fault::Parse(format!("w1_slave: {why}: {:?}", text.trim_end()));
    let mut lines = text.lines();
    let first = lines
        .next()
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| parse("empty"))?;
    let second = lines
        .next()
        .ok_or_else(|| parse("truncated after the CRC line"))?;
    let (pad, verdict) = first
        .split_once(':')
        .ok_or_else(|| parse("no ':' in the CRC line"))?;
    let pad = scratchpad(pad).ok_or_else(|| parse("expected 9 hex bytes"))?;
    // Nobody answering reads as all ones; a stuck bus as all zeros (which even
    // passes the CRC, hence checked first).
    if pad.iter().all(|&b| b == 0xff) || pad.iter().all(|&b| b == 0x00) {
        return Err(Fault::Disconnected);
    }
    let verdict = verdict.trim();
    if !verdict.starts_with("crc=") {
        return Err(parse("no crc= in the CRC line"));
    }
    if verdict.ends_with(" NO") {
        return Err(Fault::Crc);
    }
    if !verdict.ends_with(" YES") {
        return Err(parse("CRC verdict is neither YES nor NO"));
    }
    let (_, t) = second
        .rsplit_once("t=")
        .ok_or_else(|| parse("no t= in the value line"))?;
    t.trim()
        .parse::<i64>()
        .map_err(|_| parse("t= is not an integer"))
}

/// The 9 scratchpad bytes, if that is what `s` is.
fn scratchpad(s: &str) -> Option<[u8; 9]> {
    let mut out = [0u8; 9];
    let mut words = s.split_whitespace();
    for b in out.iter_mut() {
        let w = words.next()?;
        if w.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(w, 16).ok()?;
    }
    words.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const GOOD: &str =
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
    const CRC_NO: &str =
        "73 01 4b 46 7f ff 0e 10 57 : crc=14 NO\n73 01 4b 46 7f ff 0e 10 57 t=23187\n";
    const POWER_ON: &str =
        "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n";
    const ALL_FF: &str =
        "ff ff ff ff ff ff ff ff ff : crc=c9 NO\nff ff ff ff ff ff ff ff ff t=-62\n";
    const ALL_00: &str =
        "00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n";

    fn slave(t: i64) -> String {
        format!("01 02 4b 46 7f ff 0e 10 00 : crc=00 YES\n01 02 4b 46 7f ff 0e 10 00 t={t}\n")
    }

    /// A root with one device directory holding `files`.
    fn device(files: &[(&str, &str)]) -> (tempfile::TempDir, W1Probe) {
        let root = tempfile::tempdir().unwrap();
        let dir = devices_dir(root.path()).join("28-0000000000aa");
        fs::create_dir_all(&dir).unwrap();
        for (name, body) in files {
            fs::write(dir.join(name), body).unwrap();
        }
        let probe = W1Probe::new(root.path(), "28-0000000000aa");
        (root, probe)
    }

    fn write(root: &tempfile::TempDir, name: &str, body: &str) {
        fs::write(
            devices_dir(root.path()).join("28-0000000000aa").join(name),
            body,
        )
        .unwrap();
    }

    #[test]
    fn w1_slave_good() {
        assert_eq!(parse_w1_slave(GOOD), Ok(23125));
        let (_root, mut p) = device(&[("w1_slave", GOOD)]);
        assert_eq!(p.read(Mono(0)), Ok(23.125));
    }

    #[test]
    fn w1_slave_crc_no_is_crc_fault() {
        assert_eq!(parse_w1_slave(CRC_NO), Err(Fault::Crc));
    }

    #[test]
    fn w1_slave_empty_scratchpads_are_disconnected() {
        assert_eq!(parse_w1_slave(ALL_FF), Err(Fault::Disconnected));
        assert_eq!(parse_w1_slave(ALL_00), Err(Fault::Disconnected));
    }

    #[test]
    fn w1_slave_minus_127_is_disconnected() {
        let (_root, mut p) = device(&[("w1_slave", &slave(-127_000))]);
        assert_eq!(p.read(Mono(0)), Err(Fault::Disconnected));
    }

    #[test]
    fn w1_slave_garbage_empty_truncated_are_parse() {
        for text in [
            "",
            "\n",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57\n",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=2x\n",
            "72 01 4b 46 7f ff 0e 10 57 crc=57 YES\nt=23125\n",
            "72 01 4b 46 7f ff 0e 10 : crc=57 YES\nt=23125\n",
            "zz 01 4b 46 7f ff 0e 10 57 : crc=57 YES\nt=23125\n",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 MAYBE\nt=23125\n",
            "hello\nworld\n",
        ] {
            assert!(
                matches!(parse_w1_slave(text), Err(Fault::Parse(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn first_85_is_power_on_then_real_values_pass() {
        let (root, mut p) = device(&[("w1_slave", POWER_ON)]);
        assert_eq!(p.read(Mono(0)), Err(Fault::PowerOn));
        write(&root, "w1_slave", GOOD);
        assert_eq!(p.read(Mono(1)), Ok(23.125));
        // A jump from 23 °C to exactly 85.0 is a reset, not heat.
        write(&root, "w1_slave", POWER_ON);
        assert_eq!(p.read(Mono(2)), Err(Fault::PowerOn));
    }

    #[test]
    fn an_85_after_hot_readings_is_believed() {
        let (root, mut p) = device(&[("w1_slave", &slave(80_000))]);
        assert_eq!(p.read(Mono(0)), Ok(80.0));
        write(&root, "w1_slave", POWER_ON);
        assert_eq!(p.read(Mono(1)), Ok(85.0));
        // Exactly at the threshold counts as hot.
        let (root, mut p) = device(&[("w1_slave", &slave(75_000))]);
        assert_eq!(p.read(Mono(0)), Ok(75.0));
        write(&root, "w1_slave", POWER_ON);
        assert_eq!(p.read(Mono(1)), Ok(85.0));
    }

    #[test]
    fn faults_do_not_count_as_good_readings() {
        let (root, mut p) = device(&[("w1_slave", &slave(80_000))]);
        assert_eq!(p.read(Mono(0)), Ok(80.0));
        write(&root, "w1_slave", CRC_NO);
        assert_eq!(p.read(Mono(1)), Err(Fault::Crc));
        write(&root, "w1_slave", POWER_ON);
        assert_eq!(p.read(Mono(2)), Ok(85.0));
    }

    #[test]
    fn out_of_range_values() {
        let (root, mut p) = device(&[("w1_slave", &slave(125_000))]);
        assert_eq!(p.read(Mono(0)), Ok(125.0));
        write(&root, "w1_slave", &slave(-55_000));
        assert_eq!(p.read(Mono(0)), Ok(-55.0));
        write(&root, "w1_slave", &slave(125_001));
        assert!(matches!(p.read(Mono(0)), Err(Fault::OutOfRange(_))));
        write(&root, "w1_slave", &slave(-55_063));
        assert!(matches!(p.read(Mono(0)), Err(Fault::OutOfRange(_))));
    }

    #[test]
    fn temperature_attribute_wins_over_w1_slave() {
        let (_root, mut p) = device(&[("temperature", "21500\n"), ("w1_slave", GOOD)]);
        assert_eq!(p.read(Mono(0)), Ok(21.5));
    }

    #[test]
    fn temperature_attribute_faults() {
        let (root, mut p) = device(&[("temperature", "85000\n")]);
        assert_eq!(p.read(Mono(0)), Err(Fault::PowerOn));
        write(&root, "temperature", "-127000\n");
        assert_eq!(p.read(Mono(0)), Err(Fault::Disconnected));
        write(&root, "temperature", "");
        assert!(matches!(p.read(Mono(0)), Err(Fault::Parse(d)) if d.contains("could not read")));
        write(&root, "temperature", "n/a\n");
        assert!(matches!(p.read(Mono(0)), Err(Fault::Parse(_))));
        write(&root, "temperature", "130000\n");
        assert!(matches!(p.read(Mono(0)), Err(Fault::OutOfRange(_))));
    }

    #[test]
    fn unreadable_attribute_is_io() {
        // A directory where the file should be fails the read with EISDIR,
        // standing in for the EIO a real bus error gives.
        let (root, mut p) = device(&[]);
        fs::create_dir(devices_dir(root.path()).join("28-0000000000aa/temperature")).unwrap();
        assert!(matches!(p.read(Mono(0)), Err(Fault::Io(_))));
        let (root, mut p) = device(&[]);
        fs::create_dir(devices_dir(root.path()).join("28-0000000000aa/w1_slave")).unwrap();
        assert!(matches!(p.read(Mono(0)), Err(Fault::Io(_))));
    }

    #[test]
    fn missing_device_names_the_path_and_the_likely_cause() {
        let root = tempfile::tempdir().unwrap();
        let mut p = W1Probe::new(root.path(), "28-0316a2791bff");
        let Err(Fault::Missing(msg)) = p.read(Mono(0)) else {
            panic!("expected Missing")
        };
        assert!(
            msg.contains("sys/bus/w1/devices/28-0316a2791bff does not exist"),
            "{msg}"
        );
        assert!(msg.contains("w1-gpio overlay"), "{msg}");
    }

    #[test]
    fn device_without_driver_files_is_missing() {
        let (_root, mut p) = device(&[("name", "28-0000000000aa\n")]);
        assert!(matches!(p.read(Mono(0)), Err(Fault::Missing(m)) if m.contains("w1_therm")));
    }

    #[test]
    fn vanishing_and_returning_device() {
        let (root, mut p) = device(&[("w1_slave", &slave(80_000))]);
        assert_eq!(p.read(Mono(0)), Ok(80.0));
        let dir = devices_dir(root.path()).join("28-0000000000aa");
        fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(p.read(Mono(1)), Err(Fault::Missing(_))));
        // Re-plugged: freshly powered, so its first 85.0 is a reset even after 80 °C.
        fs::create_dir_all(&dir).unwrap();
        write(&root, "w1_slave", POWER_ON);
        assert_eq!(p.read(Mono(2)), Err(Fault::PowerOn));
        write(&root, "w1_slave", GOOD);
        assert_eq!(p.read(Mono(3)), Ok(23.125));
    }

    #[test]
    fn family_models() {
        assert_eq!(family_model("28-0316a2791bff"), "DS18B20");
        assert_eq!(family_model("10-000802b4ba0e"), "DS18S20");
        assert_eq!(family_model("ff-1"), "1-Wire sensor");
        assert_eq!(family_model(""), "1-Wire sensor");
    }
}
