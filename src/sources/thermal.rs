//! Thermal zones, found by `type` rather than by number.
//!
//! Like hwmon, `thermal_zoneN` numbering follows probe order, so the config
//! names the zone type and the number is looked up (and re-looked-up) here.

use std::path::{Path, PathBuf};

use super::{numbered_dirs, read_attr, read_site, Probe, Site};
use crate::reading::{Fault, Mono};

/// The thermal class directory under `sysfs_root`.
pub fn class_dir(sysfs_root: &Path) -> PathBuf {
    sysfs_root.join("sys/class/thermal")
}

/// One thermal zone directory.
#[derive(Debug, Clone)]
pub struct Zone {
    /// `.../thermal_zoneN`.
    pub dir: PathBuf,
    /// Its `type`, trimmed.
    pub kind: String,
}

impl Zone {
    /// The `temp` file (millidegrees).
    pub fn temp_file(&self) -> PathBuf {
        self.dir.join("temp")
    }
}

/// Every thermal zone under `sysfs_root`, in zone number order.
pub fn zones(sysfs_root: &Path) -> Vec<Zone> {
    numbered_dirs(&class_dir(sysfs_root), "thermal_zone")
        .into_iter()
        .filter_map(|(_, dir)| {
            let kind = read_attr(&dir.join("type")).ok()?.trim().to_string();
            Some(Zone { dir, kind })
        })
        .collect()
}

/// Finds the `temp` file of the first zone whose type is `zone`, now.
pub(crate) fn resolve(sysfs_root: &Path, zone: &str) -> Result<Site, Fault> {
    zones(sysfs_root)
        .into_iter()
        .find(|z| z.kind == zone)
        .map(|z| Site {
            ident: z.dir.join("type"),
            value: z.temp_file(),
        })
        .ok_or_else(|| {
            Fault::Missing(format!(
                "no thermal zone of type {zone:?} under {} (see `edgetherm scan`)",
                class_dir(sysfs_root).display()
            ))
        })
}

/// A thermal zone's temperature, located by type and re-located when it moves.
#[derive(Debug)]
pub struct ThermalProbe {
    root: PathBuf,
    zone: String,
    site: Option<Site>,
}

impl ThermalProbe {
    /// A probe for the zone whose `type` is `zone`.
    pub fn new(sysfs_root: &Path, zone: &str) -> ThermalProbe {
        ThermalProbe {
            root: sysfs_root.to_path_buf(),
            zone: zone.to_string(),
            site: None,
        }
    }
}

impl Probe for ThermalProbe {
    fn read(&mut self, _now: Mono) -> Result<f64, Fault> {
        let (root, zone) = (&self.root, &self.zone);
        read_site(&mut self.site, zone, || resolve(root, zone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn zone(root: &Path, n: u32, kind: &str, temp: &str) {
        let dir = class_dir(root).join(format!("thermal_zone{n}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("type"), format!("{kind}\n")).unwrap();
        fs::write(dir.join("temp"), temp).unwrap();
    }

    #[test]
    fn reads_by_type() {
        let root = tempfile::tempdir().unwrap();
        zone(root.path(), 0, "cpu-thermal", "47850\n");
        zone(root.path(), 1, "gpu-thermal", "-1250\n");
        assert_eq!(
            ThermalProbe::new(root.path(), "cpu-thermal").read(Mono(0)),
            Ok(47.85)
        );
        assert_eq!(
            ThermalProbe::new(root.path(), "gpu-thermal").read(Mono(0)),
            Ok(-1.25)
        );
    }

    #[test]
    fn faults() {
        let root = tempfile::tempdir().unwrap();
        assert!(
            matches!(ThermalProbe::new(root.path(), "cpu-thermal").read(Mono(0)), Err(Fault::Missing(m)) if m.contains("cpu-thermal"))
        );
        zone(root.path(), 0, "acpitz", "\n");
        assert!(matches!(
            ThermalProbe::new(root.path(), "acpitz").read(Mono(0)),
            Err(Fault::Parse(_))
        ));
        let dir = class_dir(root.path()).join("thermal_zone1");
        fs::create_dir_all(dir.join("temp")).unwrap();
        fs::write(dir.join("type"), "x86_pkg_temp\n").unwrap();
        assert!(matches!(
            ThermalProbe::new(root.path(), "x86_pkg_temp").read(Mono(0)),
            Err(Fault::Io(_))
        ));
    }

    #[test]
    fn renumbered_vanished_and_returned() {
        let root = tempfile::tempdir().unwrap();
        zone(root.path(), 0, "cpu-thermal", "47850\n");
        let mut p = ThermalProbe::new(root.path(), "cpu-thermal");
        assert_eq!(p.read(Mono(0)), Ok(47.85));
        let class = class_dir(root.path());
        fs::rename(class.join("thermal_zone0"), class.join("thermal_zone3")).unwrap();
        assert_eq!(p.read(Mono(1)), Ok(47.85));
        fs::remove_dir_all(class.join("thermal_zone3")).unwrap();
        assert!(matches!(p.read(Mono(2)), Err(Fault::Missing(_))));
        // Another zone takes the old number; ours comes back elsewhere.
        zone(root.path(), 0, "soc-thermal", "60000\n");
        zone(root.path(), 2, "cpu-thermal", "50000\n");
        assert_eq!(p.read(Mono(3)), Ok(50.0));
    }
}
