//! Polled sensors: one `Probe` per configured sensor, read on a blocking thread.
//!
//! Everything here reads sysfs under a configurable root so tests can point it
//! at fixture trees; the agent passes "/".

pub mod hwmon;
pub mod i2c;
pub mod sim;
pub mod thermal;
pub mod w1;

use std::io;
use std::path::{Path, PathBuf};

use crate::config::{SensorConfig, SensorSource};
use crate::reading::{Fault, Mono};

/// A sensor that is polled: one blocking read at a time.
pub trait Probe: Send {
    /// Takes one reading in °C. May block (a DS18B20 conversion takes ~750 ms).
    fn read(&mut self, now: Mono) -> Result<f64, Fault>;
}

/// Opens the probe for a polled sensor; None for sensors that push readings (kind = "mqtt") and for kind = "i2c".
pub fn open(cfg: &SensorConfig, sysfs_root: &Path) -> Option<Box<dyn Probe>> {
    match &cfg.source {
        SensorSource::W1 { device } => Some(Box::new(w1::W1Probe::new(sysfs_root, device))),
        SensorSource::Hwmon { chip, input } => {
            Some(Box::new(hwmon::HwmonProbe::new(sysfs_root, chip, input)))
        }
        SensorSource::Thermal { zone } => {
            Some(Box::new(thermal::ThermalProbe::new(sysfs_root, zone)))
        }
        SensorSource::Sim(pattern) => Some(Box::new(sim::SimProbe::new(pattern.clone()))),
        SensorSource::I2c { bus, chip, address } => Some(i2c::open(bus, chip, *address)),
        // mqtt sensors push readings; nothing to poll.
        SensorSource::Mqtt { .. } => None,
    }
}

/// Reads a sysfs attribute as text (lossy: a stray byte should surface as a parse fault, not an I/O one).
pub(crate) fn read_attr(path: &Path) -> io::Result<String> {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// True when an error means the file (or its device) is gone rather than failing.
pub(crate) fn is_gone(e: &io::Error) -> bool {
    // ENODEV: a file opened before its device was unbound.
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(19)
}

/// An I/O fault naming the file.
pub(crate) fn io_fault(path: &Path, e: &io::Error) -> Fault {
    Fault::Io(format!("{}: {e}", path.display()))
}

/// Parses a sysfs millidegree value such as `23125\n`.
pub(crate) fn parse_millideg(text: &str, path: &Path) -> Result<i64, Fault> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Fault::Parse(format!("{} is empty", path.display())));
    }
    t.parse::<i64>().map_err(|_| {
        Fault::Parse(format!(
            "{}: expected millidegrees, found {t:?}",
            path.display()
        ))
    })
}

/// Reads a millidegree attribute and converts it to °C, with no plausibility checks.
pub(crate) fn read_millideg(path: &Path) -> Result<f64, Fault> {
    match read_attr(path) {
        Ok(text) => parse_millideg(&text, path).map(milli_to_c),
        Err(e) if is_gone(&e) => Err(Fault::Missing(format!("{} does not exist", path.display()))),
        Err(e) => Err(io_fault(path, &e)),
    }
}

/// Millidegrees to °C.
pub(crate) fn milli_to_c(milli: i64) -> f64 {
    milli as f64 / 1000.0
}

/// `dir/<prefix><N>` entries, sorted by N (so hwmon10 comes after hwmon2).
pub(crate) fn numbered_dirs(dir: &Path, prefix: &str) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_prefix(prefix)?.parse::<u32>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// Where a renumberable sysfs value was last found, and the file that says whose it is.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    /// The identity file (`name`, `type`) whose trimmed content must still match.
    pub ident: PathBuf,
    /// The millidegree file.
    pub value: PathBuf,
}

/// Reads through a cached `Site`, re-resolving when the device moved or vanished.
///
/// hwmon/thermal numbers change across boots and are reused within one when
/// devices come and go, so the cached directory is re-checked by identity on
/// every read: otherwise a reused number would silently report another chip.
pub(crate) fn read_site(
    cache: &mut Option<Site>,
    expected: &str,
    resolve: impl Fn() -> Result<Site, Fault>,
) -> Result<f64, Fault> {
    let still_ours = cache
        .as_ref()
        .is_some_and(|s| read_attr(&s.ident).is_ok_and(|t| t.trim() == expected));
    if !still_ours {
        *cache = None;
    }
    let mut fresh = cache.is_none();
    loop {
        let site = match cache {
            Some(s) => s.clone(),
            None => {
                let s = resolve()?;
                *cache = Some(s.clone());
                s
            }
        };
        match read_attr(&site.value) {
            Ok(text) => return parse_millideg(&text, &site.value).map(milli_to_c),
            // A just-resolved path that vanished: report it rather than loop.
            Err(e) if is_gone(&e) && !fresh => {
                *cache = None;
                fresh = true;
            }
            Err(e) if is_gone(&e) => {
                *cache = None;
                return Err(Fault::Missing(format!(
                    "{} vanished while reading",
                    site.value.display()
                )));
            }
            Err(e) => return Err(io_fault(&site.value, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimPattern;
    use std::time::Duration;

    fn cfg(source: SensorSource) -> SensorConfig {
        SensorConfig {
            id: "x".into(),
            name: None,
            interval: Duration::from_secs(10),
            source,
        }
    }

    #[test]
    fn open_gives_probes_only_for_polled_kinds() {
        let root = Path::new("/nonexistent");
        assert!(open(
            &cfg(SensorSource::W1 {
                device: "28-1".into()
            }),
            root
        )
        .is_some());
        assert!(open(&cfg(SensorSource::Thermal { zone: "z".into() }), root).is_some());
        assert!(open(
            &cfg(SensorSource::Hwmon {
                chip: "c".into(),
                input: "temp1".into()
            }),
            root
        )
        .is_some());
        assert!(open(&cfg(SensorSource::Sim(SimPattern::Constant(1.0))), root).is_some());
        let i2c = SensorSource::I2c {
            bus: "/dev/i2c-1".into(),
            chip: "tmp102".into(),
            address: 0x48,
        };
        assert!(
            open(&cfg(i2c), root).is_some(),
            "i2c is polled (the bus opens lazily)"
        );
        let mqtt = SensorSource::Mqtt {
            topic: "t".into(),
            format: "plain".into(),
            field: None,
            unit: None,
            range: (-80.0, 200.0),
        };
        assert!(open(&cfg(mqtt), root).is_none());
    }

    #[test]
    fn opened_sim_probe_reads() {
        let mut p = open(
            &cfg(SensorSource::Sim(SimPattern::Constant(21.5))),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(p.read(Mono(0)), Ok(21.5));
    }

    #[test]
    fn millideg_parsing() {
        let p = Path::new("f");
        assert_eq!(parse_millideg("23125\n", p), Ok(23125));
        assert_eq!(parse_millideg("-5500", p), Ok(-5500));
        assert!(matches!(parse_millideg("", p), Err(Fault::Parse(_))));
        assert!(matches!(parse_millideg("\n", p), Err(Fault::Parse(_))));
        assert!(matches!(parse_millideg("23.1", p), Err(Fault::Parse(_))));
        assert!(matches!(parse_millideg("abc", p), Err(Fault::Parse(_))));
    }

    #[test]
    fn numbered_dirs_sort_numerically() {
        let d = tempfile::tempdir().unwrap();
        for n in ["hwmon10", "hwmon2", "hwmonx", "other1"] {
            std::fs::create_dir(d.path().join(n)).unwrap();
        }
        let got: Vec<u32> = numbered_dirs(d.path(), "hwmon")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(got, vec![2, 10]);
    }
}
