//! hwmon temperature inputs, found by chip `name` rather than by number.
//!
//! `hwmonN` numbers follow driver probe order, so they change across boots
//! and are reused when devices come and go; the config names the chip instead.

use std::path::{Path, PathBuf};

use super::{numbered_dirs, read_attr, read_site, Probe, Site};
use crate::reading::{Fault, Mono};

/// The hwmon class directory under `sysfs_root`.
pub fn class_dir(sysfs_root: &Path) -> PathBuf {
    sysfs_root.join("sys/class/hwmon")
}

/// One hwmon chip directory.
#[derive(Debug, Clone)]
pub struct Chip {
    /// `.../hwmonN`.
    pub dir: PathBuf,
    /// The `name` file that was read (in `hwmonN/` or, on older kernels, `hwmonN/device/`).
    pub name_file: PathBuf,
    /// Its content, trimmed.
    pub name: String,
}

/// One `temp<N>_input` of a chip.
#[derive(Debug, Clone)]
pub struct TempInput {
    /// The N in `temp<N>`.
    pub index: u32,
    /// The `temp<N>_input` file.
    pub path: PathBuf,
    /// `temp<N>_label`, trimmed, if the driver provides one.
    pub label: Option<String>,
}

/// Every hwmon chip under `sysfs_root`, in hwmon number order.
pub fn chips(sysfs_root: &Path) -> Vec<Chip> {
    numbered_dirs(&class_dir(sysfs_root), "hwmon")
        .into_iter()
        .filter_map(|(_, dir)| {
            [dir.join("name"), dir.join("device/name")]
                .into_iter()
                .find_map(|name_file| {
                    let name = read_attr(&name_file).ok()?.trim().to_string();
                    Some(Chip {
                        dir: dir.clone(),
                        name_file,
                        name,
                    })
                })
        })
        .collect()
}

/// A chip's temperature inputs, by index; `hwmonN/` wins over the older `hwmonN/device/`.
pub fn temp_inputs(chip: &Chip) -> Vec<TempInput> {
    let mut out: Vec<TempInput> = Vec::new();
    for base in [chip.dir.clone(), chip.dir.join("device")] {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name();
            let Some(index) = name.to_str().and_then(temp_index_of_input) else {
                continue;
            };
            if out.iter().any(|t| t.index == index) {
                continue;
            }
            let label = read_attr(&base.join(format!("temp{index}_label")))
                .ok()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty());
            out.push(TempInput {
                index,
                path: e.path(),
                label,
            });
        }
    }
    out.sort_by_key(|t| t.index);
    out
}

/// `temp3_input` → 3.
fn temp_index_of_input(file: &str) -> Option<u32> {
    file.strip_prefix("temp")?
        .strip_suffix("_input")?
        .parse()
        .ok()
}

/// `temp3` (or `temp3_input`) → 3; None for a label.
fn temp_index(input: &str) -> Option<u32> {
    let n = input.strip_prefix("temp")?;
    let n = n.strip_suffix("_input").unwrap_or(n);
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Finds the input file for `chip`/`input` now.
pub(crate) fn resolve(sysfs_root: &Path, chip: &str, input: &str) -> Result<Site, Fault> {
    let want = temp_index(input);
    let mut seen_chip = false;
    // Several chips may share a name; the first one with this input wins.
    for c in chips(sysfs_root).into_iter().filter(|c| c.name == chip) {
        seen_chip = true;
        let found = temp_inputs(&c).into_iter().find(|t| match want {
            Some(n) => t.index == n,
            None => t.label.as_deref() == Some(input),
        });
        if let Some(t) = found {
            return Ok(Site {
                ident: c.name_file,
                value: t.path,
            });
        }
    }
    let dir = class_dir(sysfs_root);
    Err(Fault::Missing(if seen_chip {
        format!("hwmon chip {chip:?} has no temperature input {input:?} (see `edgetherm scan`)")
    } else {
        format!(
            "no hwmon chip named {chip:?} under {}: is its driver loaded?",
            dir.display()
        )
    }))
}

/// A hwmon temperature input, located by chip name and re-located when it moves.
#[derive(Debug)]
pub struct HwmonProbe {
    root: PathBuf,
    chip: String,
    input: String,
    site: Option<Site>,
}

impl HwmonProbe {
    /// A probe for `input` (`temp1` or a label) of the chip named `chip`.
    pub fn new(sysfs_root: &Path, chip: &str, input: &str) -> HwmonProbe {
        HwmonProbe {
            root: sysfs_root.to_path_buf(),
            chip: chip.to_string(),
            input: input.to_string(),
            site: None,
        }
    }
}

impl Probe for HwmonProbe {
    fn read(&mut self, _now: Mono) -> Result<f64, Fault> {
        let (root, chip, input) = (&self.root, &self.chip, &self.input);
        read_site(&mut self.site, chip, || resolve(root, chip, input))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Writes `files` (relative path, content) under a fresh root.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (rel, body) in files {
            let p = root.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, body).unwrap();
        }
        root
    }

    const PI: &[(&str, &str)] = &[
        ("sys/class/hwmon/hwmon0/name", "cpu_thermal\n"),
        ("sys/class/hwmon/hwmon0/temp1_input", "48312\n"),
        ("sys/class/hwmon/hwmon1/name", "nct6775\n"),
        ("sys/class/hwmon/hwmon1/temp1_input", "34000\n"),
        ("sys/class/hwmon/hwmon1/temp1_label", "SYSTIN\n"),
        ("sys/class/hwmon/hwmon1/temp2_input", "41500\n"),
        ("sys/class/hwmon/hwmon1/temp2_label", "CPUTIN\n"),
    ];

    fn read(root: &Path, chip: &str, input: &str) -> Result<f64, Fault> {
        HwmonProbe::new(root, chip, input).read(Mono(0))
    }

    #[test]
    fn reads_by_index_and_by_label() {
        let root = tree(PI);
        assert_eq!(read(root.path(), "cpu_thermal", "temp1"), Ok(48.312));
        assert_eq!(read(root.path(), "nct6775", "temp2"), Ok(41.5));
        assert_eq!(read(root.path(), "nct6775", "temp2_input"), Ok(41.5));
        assert_eq!(read(root.path(), "nct6775", "SYSTIN"), Ok(34.0));
        assert_eq!(read(root.path(), "nct6775", "CPUTIN"), Ok(41.5));
    }

    #[test]
    fn missing_chip_and_missing_input() {
        let root = tree(PI);
        assert!(
            matches!(read(root.path(), "coretemp", "temp1"), Err(Fault::Missing(m)) if m.contains("no hwmon chip named"))
        );
        assert!(
            matches!(read(root.path(), "nct6775", "temp9"), Err(Fault::Missing(m)) if m.contains("no temperature input"))
        );
        assert!(matches!(
            read(root.path(), "nct6775", "AUXTIN"),
            Err(Fault::Missing(_))
        ));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            read(empty.path(), "cpu_thermal", "temp1"),
            Err(Fault::Missing(_))
        ));
    }

    #[test]
    fn older_kernels_keep_files_under_device() {
        let root = tree(&[
            ("sys/class/hwmon/hwmon3/device/name", "lm75\n"),
            ("sys/class/hwmon/hwmon3/device/temp1_input", "27500\n"),
            ("sys/class/hwmon/hwmon4/name", "mixed\n"),
            ("sys/class/hwmon/hwmon4/device/temp1_input", "30000\n"),
            ("sys/class/hwmon/hwmon4/device/temp1_label", "board\n"),
        ]);
        assert_eq!(read(root.path(), "lm75", "temp1"), Ok(27.5));
        assert_eq!(read(root.path(), "mixed", "board"), Ok(30.0));
    }

    #[test]
    fn first_chip_with_the_input_wins_among_namesakes() {
        let root = tree(&[
            ("sys/class/hwmon/hwmon2/name", "nvme\n"),
            ("sys/class/hwmon/hwmon2/temp1_input", "40000\n"),
            ("sys/class/hwmon/hwmon10/name", "nvme\n"),
            ("sys/class/hwmon/hwmon10/temp1_input", "50000\n"),
            ("sys/class/hwmon/hwmon10/temp2_input", "51000\n"),
        ]);
        assert_eq!(read(root.path(), "nvme", "temp1"), Ok(40.0));
        assert_eq!(read(root.path(), "nvme", "temp2"), Ok(51.0));
    }

    #[test]
    fn garbage_and_io_errors() {
        let root = tree(&[
            ("sys/class/hwmon/hwmon0/name", "x\n"),
            ("sys/class/hwmon/hwmon0/temp1_input", "hot\n"),
        ]);
        assert!(matches!(
            read(root.path(), "x", "temp1"),
            Err(Fault::Parse(_))
        ));
        let root = tree(&[("sys/class/hwmon/hwmon0/name", "x\n")]);
        fs::create_dir(root.path().join("sys/class/hwmon/hwmon0/temp1_input")).unwrap();
        assert!(matches!(read(root.path(), "x", "temp1"), Err(Fault::Io(_))));
    }

    #[test]
    fn renumbered_chip_is_found_again() {
        let root = tree(PI);
        let mut p = HwmonProbe::new(root.path(), "cpu_thermal", "temp1");
        assert_eq!(p.read(Mono(0)), Ok(48.312));
        let class = class_dir(root.path());
        fs::rename(class.join("hwmon0"), class.join("hwmon7")).unwrap();
        assert_eq!(p.read(Mono(1)), Ok(48.312));
        assert!(p
            .site
            .as_ref()
            .unwrap()
            .value
            .starts_with(class.join("hwmon7")));
    }

    #[test]
    fn reused_number_is_not_mistaken_for_our_chip() {
        let root = tree(PI);
        let mut p = HwmonProbe::new(root.path(), "cpu_thermal", "temp1");
        assert_eq!(p.read(Mono(0)), Ok(48.312));
        let class = class_dir(root.path());
        // cpu_thermal moves to hwmon5 and nct6775 takes over hwmon0.
        fs::rename(class.join("hwmon0"), class.join("hwmon5")).unwrap();
        fs::rename(class.join("hwmon1"), class.join("hwmon0")).unwrap();
        assert_eq!(p.read(Mono(1)), Ok(48.312));
    }

    #[test]
    fn vanishing_and_returning_chip() {
        let root = tree(PI);
        let mut p = HwmonProbe::new(root.path(), "nct6775", "CPUTIN");
        assert_eq!(p.read(Mono(0)), Ok(41.5));
        let class = class_dir(root.path());
        fs::rename(class.join("hwmon1"), root.path().join("away")).unwrap();
        assert!(matches!(p.read(Mono(1)), Err(Fault::Missing(_))));
        fs::rename(root.path().join("away"), class.join("hwmon3")).unwrap();
        assert_eq!(p.read(Mono(2)), Ok(41.5));
    }

    #[test]
    fn inputs_listing() {
        let root = tree(PI);
        let cs = chips(root.path());
        assert_eq!(
            cs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["cpu_thermal", "nct6775"]
        );
        let ins = temp_inputs(&cs[1]);
        assert_eq!(
            ins.iter()
                .map(|t| (t.index, t.label.as_deref()))
                .collect::<Vec<_>>(),
            [(1, Some("SYSTIN")), (2, Some("CPUTIN"))]
        );
    }

    #[test]
    fn input_names() {
        assert_eq!(temp_index("temp1"), Some(1));
        assert_eq!(temp_index("temp12_input"), Some(12));
        assert_eq!(temp_index("temp"), None);
        assert_eq!(temp_index("temp+1"), None);
        assert_eq!(temp_index("SYSTIN"), None);
    }
}
