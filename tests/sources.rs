//! Probes and scan against the fixture sysfs tree in tests/fixtures/sysfs.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use edgetherm::config::{Config, SensorSource};
use edgetherm::reading::{Fault, Mono};
use edgetherm::scan::{render_table, scan, snippet};
use edgetherm::sources::hwmon::HwmonProbe;
use edgetherm::sources::thermal::ThermalProbe;
use edgetherm::sources::w1::W1Probe;
use edgetherm::sources::Probe;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysfs")
}

/// A writable copy of the fixture tree.
fn fixture_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dest = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &dest);
            } else {
                fs::copy(e.path(), dest).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&fixture(), dir.path());
    dir
}

fn w1(device: &str) -> Result<f64, Fault> {
    W1Probe::new(&fixture(), device).read(Mono(0))
}

#[test]
fn w1_fixture_devices() {
    assert_eq!(w1("28-000000000001"), Ok(23.125));
    assert_eq!(w1("28-000000000002"), Err(Fault::Crc));
    assert_eq!(w1("28-000000000003"), Err(Fault::PowerOn));
    assert_eq!(w1("28-000000000004"), Ok(21.5));
    assert_eq!(w1("28-000000000005"), Err(Fault::Disconnected));
    assert!(matches!(w1("28-0000000000ff"), Err(Fault::Missing(_))));
}

#[test]
fn hwmon_and_thermal_fixture() {
    let root = fixture();
    assert_eq!(
        HwmonProbe::new(&root, "cpu_thermal", "temp1").read(Mono(0)),
        Ok(48.312)
    );
    assert_eq!(
        HwmonProbe::new(&root, "nct6775", "temp1").read(Mono(0)),
        Ok(34.0)
    );
    assert_eq!(
        HwmonProbe::new(&root, "nct6775", "CPUTIN").read(Mono(0)),
        Ok(41.5)
    );
    assert_eq!(
        ThermalProbe::new(&root, "cpu-thermal").read(Mono(0)),
        Ok(47.85)
    );
}

#[test]
fn hwmon_renumbered_across_boot_is_re_resolved() {
    let root = fixture_copy();
    let mut p = HwmonProbe::new(root.path(), "cpu_thermal", "temp1");
    assert_eq!(p.read(Mono(0)), Ok(48.312));
    let class = root.path().join("sys/class/hwmon");
    fs::rename(class.join("hwmon0"), class.join("hwmon7")).unwrap();
    fs::write(class.join("hwmon7/temp1_input"), "50125\n").unwrap();
    assert_eq!(p.read(Mono(1)), Ok(50.125));
}

#[test]
fn w1_device_vanishes_and_comes_back() {
    let root = fixture_copy();
    let dir = root.path().join("sys/bus/w1/devices/28-000000000001");
    let mut p = W1Probe::new(root.path(), "28-000000000001");
    assert_eq!(p.read(Mono(0)), Ok(23.125));
    let away = root.path().join("away");
    fs::rename(&dir, &away).unwrap();
    let Err(Fault::Missing(msg)) = p.read(Mono(1)) else {
        panic!("expected Missing")
    };
    assert!(msg.contains("28-000000000001 does not exist"), "{msg}");
    fs::rename(&away, &dir).unwrap();
    assert_eq!(p.read(Mono(2)), Ok(23.125));
}

#[test]
fn scan_finds_everything_in_the_fixture() {
    let found = scan(&fixture());
    let sources: Vec<&SensorSource> = found.iter().map(|f| &f.source).collect();
    let w1 = |d: &str| SensorSource::W1 { device: d.into() };
    let hw = |c: &str, i: &str| SensorSource::Hwmon {
        chip: c.into(),
        input: i.into(),
    };
    assert_eq!(
        sources,
        [
            &w1("28-000000000001"),
            &w1("28-000000000002"),
            &w1("28-000000000003"),
            &w1("28-000000000004"),
            &w1("28-000000000005"),
            &hw("cpu_thermal", "temp1"),
            &hw("nct6775", "temp1"),
            &hw("nct6775", "temp2"),
            &SensorSource::Thermal {
                zone: "cpu-thermal".into()
            },
        ]
    );
    let values: Vec<&Result<f64, Fault>> = found.iter().map(|f| &f.value).collect();
    assert_eq!(
        values,
        [
            &Ok(23.125),
            &Err(Fault::Crc),
            &Err(Fault::PowerOn),
            &Ok(21.5),
            &Err(Fault::Disconnected),
            &Ok(48.312),
            &Ok(34.0),
            &Ok(41.5),
            &Ok(47.85),
        ]
    );
    assert_eq!(found[6].label, "SYSTIN");
    assert_eq!(found[7].label, "CPUTIN");
    let ids: HashSet<&str> = found.iter().map(|f| f.suggested_id.as_str()).collect();
    assert_eq!(ids.len(), found.len());
}

#[test]
fn scan_snippet_is_valid_config_with_unique_ids() {
    let found = scan(&fixture());
    let text = snippet(&found);
    let cfg = match Config::parse(Path::new("snippet.toml"), &text) {
        Ok(c) => c,
        Err(e) => panic!("{e}\n---\n{text}"),
    };
    assert_eq!(cfg.sensors.len(), found.len(), "{text}");
    let ids: HashSet<&str> = cfg.sensors.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), cfg.sensors.len());
    for (s, f) in cfg.sensors.iter().zip(&found) {
        assert_eq!(s.source, f.source);
        assert_eq!(s.id, f.suggested_id);
    }
    assert!(text.contains("# current: 23.1 °C\n[[sensor]]"), "{text}");
    assert!(text.contains("# fault: CRC mismatch"), "{text}");
}

#[test]
fn scan_table_lists_fixture() {
    let table = render_table(&scan(&fixture()));
    assert_eq!(table.lines().count(), 10, "{table}");
    assert!(table.contains("28-000000000004"), "{table}");
    assert!(
        table.contains("nct6775/temp2") && table.contains("CPUTIN"),
        "{table}"
    );
    assert!(
        table.contains("47.9 °C") || table.contains("47.8 °C"),
        "{table}"
    );
}
