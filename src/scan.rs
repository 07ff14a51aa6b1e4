//! `edgetherm scan`: find every temperature sensor sysfs offers, read it once,
//! and suggest config for it.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use crate::config::SensorSource;
use crate::reading::{Fault, Mono};
use crate::sources::{hwmon, read_millideg, thermal, w1, Probe};

/// Longest sensor id the config accepts.
const MAX_ID: usize = 64;

/// One sensor found by `scan`.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// How the config would address it.
    pub source: SensorSource,
    /// A valid id, unique within one `scan` result.
    pub suggested_id: String,
    /// What else the kernel calls it: the w1 chip model, the hwmon `temp*_label`, the thermal zone directory; may be empty.
    pub label: String,
    /// Its value when scanned.
    pub value: Result<f64, Fault>,
}

/// Lists every w1 thermometer, hwmon temperature input and thermal zone under `sysfs_root`, each read once.
pub fn scan(sysfs_root: &Path) -> Vec<Found> {
    let mut found = scan_w1(sysfs_root);
    found.extend(scan_hwmon(sysfs_root));
    found.extend(scan_thermal(sysfs_root));
    let ids = unique_ids(found.iter().map(|f| base_id(&f.source, &f.label)));
    for (f, id) in found.iter_mut().zip(ids) {
        f.suggested_id = id;
    }
    found
}

fn scan_w1(root: &Path) -> Vec<Found> {
    let Ok(entries) = std::fs::read_dir(w1::devices_dir(root)) else {
        return Vec::new();
    };
    let mut devices: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with("w1_bus_master"))
        .filter(|name| {
            name.split_once('-')
                .is_some_and(|(family, _)| w1::THERM_FAMILIES.contains(&family))
        })
        .collect();
    devices.sort();
    // Sequential on purpose: the kernel serialises a bus anyway, so threads
    // would only add contention for the same ~750 ms conversions.
    devices
        .into_iter()
        .map(|device| Found {
            value: w1::W1Probe::new(root, &device).read(Mono(0)),
            label: w1::family_model(&device).to_string(),
            source: SensorSource::W1 { device },
            suggested_id: String::new(),
        })
        .collect()
}

fn scan_hwmon(root: &Path) -> Vec<Found> {
    let mut out = Vec::new();
    for chip in hwmon::chips(root) {
        for input in hwmon::temp_inputs(&chip) {
            // Read this exact file: a namesake chip would fool a by-name probe.
            out.push(Found {
                value: read_millideg(&input.path),
                label: input.label.unwrap_or_default(),
                source: SensorSource::Hwmon {
                    chip: chip.name.clone(),
                    input: format!("temp{}", input.index),
                },
                suggested_id: String::new(),
            });
        }
    }
    out
}

fn scan_thermal(root: &Path) -> Vec<Found> {
    thermal::zones(root)
        .into_iter()
        .map(|z| Found {
            value: read_millideg(&z.temp_file()),
            label: z
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            source: SensorSource::Thermal { zone: z.kind },
            suggested_id: String::new(),
        })
        .collect()
}

/// The id a sensor would get before sanitising and de-duplication.
fn base_id(source: &SensorSource, label: &str) -> String {
    match source {
        SensorSource::W1 { device } => format!("w1-{device}"),
        SensorSource::Hwmon { chip, input } if label.is_empty() => format!("hwmon-{chip}-{input}"),
        SensorSource::Hwmon { chip, .. } => format!("hwmon-{chip}-{label}"),
        SensorSource::Thermal { zone } => format!("thermal-{zone}"),
        other => format!("{}-{label}", other.kind()),
    }
}

/// Lower-cases `raw` and maps anything outside `[a-z0-9_.-]` to single dashes.
fn sanitize_id(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c) {
            c
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    let out = out.trim_matches('-');
    let out: String = out.chars().take(MAX_ID).collect();
    if out.is_empty() {
        "sensor".to_string()
    } else {
        out
    }
}

/// Sanitised ids, made unique with `-2`, `-3`, ... suffixes in order.
fn unique_ids(raw: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for r in raw {
        let base = sanitize_id(&r);
        let mut id = base.clone();
        let mut n = 2;
        while taken.contains(&id) {
            let suffix = format!("-{n}");
            let keep: String = base.chars().take(MAX_ID - suffix.len()).collect();
            id = format!("{keep}{suffix}");
            n += 1;
        }
        taken.insert(id.clone());
        out.push(id);
    }
    out
}

/// Ready-to-paste TOML `[[sensor]]` blocks, one per found sensor, with its current value or fault above it.
pub fn snippet(found: &[Found]) -> String {
    let mut s = String::from("# Sensors found by `edgetherm scan`. Rename ids and names as you like:\n# rules refer to sensors by id.\n");
    if found.is_empty() {
        s.push_str("# (none found)\n");
        return s;
    }
    let ids = unique_ids(found.iter().map(|f| f.suggested_id.clone()));
    let mut seen: Vec<&SensorSource> = Vec::new();
    for (f, id) in found.iter().zip(ids) {
        s.push('\n');
        if seen.contains(&&f.source) {
            let _ = writeln!(s, "# skipped {}: another device has the same name, and the config reaches only the first", source_text(&f.source));
            continue;
        }
        seen.push(&f.source);
        let keys = match &f.source {
            SensorSource::W1 { device } => format!("device = {}\n", toml_str(device)),
            SensorSource::Hwmon { chip, input } => {
                format!("chip = {}\ninput = {}\n", toml_str(chip), toml_str(input))
            }
            SensorSource::Thermal { zone } => format!("zone = {}\n", toml_str(zone)),
            SensorSource::I2c { bus, chip, address } => format!(
                "bus = {}\nchip = {}\naddress = 0x{address:02x}\n",
                toml_str(&bus.to_string_lossy()),
                toml_str(chip)
            ),
            SensorSource::Mqtt {
                topic,
                format,
                field,
                ..
            } => {
                let field = field
                    .as_deref()
                    .map(|f| format!("field = {}\n", toml_str(f)))
                    .unwrap_or_default();
                format!(
                    "topic = {}\nformat = {}\n{field}",
                    toml_str(topic),
                    toml_str(format)
                )
            }
            // Not found by scanning; written by hand.
            SensorSource::Sim(_) => {
                let _ = writeln!(s, "# skipped {id}: kind = \"sim\" sensors are not scanned");
                continue;
            }
        };
        let _ = writeln!(s, "# {}", value_text(&f.value));
        s.push_str("[[sensor]]\n");
        let _ = writeln!(s, "id = {}", toml_str(&id));
        let _ = writeln!(s, "name = {}", toml_str(&display_name(f)));
        let _ = writeln!(s, "kind = \"{}\"", f.source.kind());
        s.push_str(&keys);
        if !matches!(f.source, SensorSource::Mqtt { .. }) {
            s.push_str("interval = \"10s\"\n");
        }
    }
    s
}

/// A human listing of found sensors: kind, id, source, label and value.
pub fn render_table(found: &[Found]) -> String {
    if found.is_empty() {
        return String::from(
            "No temperature sensors found. This may be because:\n\
             \x20 - no 1-Wire bus: the w1-gpio overlay is not enabled (dtoverlay=w1-gpio in config.txt),\n\
             \x20   or no sensor is wired to it;\n\
             \x20 - no hwmon drivers are loaded for this board's sensor chips;\n\
             \x20 - this runs in a VM or container, which usually has no hwmon devices or thermal zones;\n\
             \x20 - the sysfs root is not the real /sys (check `sysfs_root` in [agent]).\n",
        );
    }
    let head = ["KIND", "ID", "SOURCE", "LABEL", "VALUE"].map(String::from);
    let rows: Vec<[String; 5]> = found
        .iter()
        .map(|f| {
            let label = if f.label.is_empty() {
                "-".to_string()
            } else {
                f.label.clone()
            };
            [
                f.source.kind().to_string(),
                f.suggested_id.clone(),
                source_text(&f.source),
                label,
                value_text(&f.value),
            ]
        })
        .collect();
    let mut widths = [0usize; 5];
    for row in std::iter::once(&head).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&head).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `current: 23.1 °C` or `fault: ...`, on one line.
fn value_text(value: &Result<f64, Fault>) -> String {
    match value {
        Ok(c) => format!("current: {c:.1} °C"),
        Err(f) => format!("fault: {}", f.to_string().replace(['\n', '\r'], " ")),
    }
}

/// Where the sensor is, the way its config keys say it.
fn source_text(source: &SensorSource) -> String {
    match source {
        SensorSource::W1 { device } => device.clone(),
        SensorSource::Hwmon { chip, input } => format!("{chip}/{input}"),
        SensorSource::Thermal { zone } => zone.clone(),
        SensorSource::I2c { bus, chip, address } => {
            format!("{chip}@{}:0x{address:02x}", bus.display())
        }
        SensorSource::Mqtt { topic, .. } => topic.clone(),
        SensorSource::Sim(_) => "sim".to_string(),
    }
}

/// A starting `name` for the config: what it is and where.
fn display_name(f: &Found) -> String {
    match &f.source {
        SensorSource::W1 { device } if !f.label.is_empty() => format!("{} {device}", f.label),
        SensorSource::Hwmon { chip, .. } if !f.label.is_empty() => format!("{chip} {}", f.label),
        SensorSource::Hwmon { chip, input } => format!("{chip} {input}"),
        other => source_text(other),
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn found(source: SensorSource, label: &str, value: Result<f64, Fault>) -> Found {
        Found {
            source,
            suggested_id: String::new(),
            label: label.into(),
            value,
        }
    }

    #[test]
    fn ids_are_sanitised() {
        assert_eq!(sanitize_id("w1-28-000000000001"), "w1-28-000000000001");
        assert_eq!(
            sanitize_id("hwmon-NCT6775-CPU Temp (PECI)"),
            "hwmon-nct6775-cpu-temp-peci"
        );
        assert_eq!(sanitize_id("thermal-x86_pkg_temp"), "thermal-x86_pkg_temp");
        assert_eq!(sanitize_id("  ~~  "), "sensor");
        assert_eq!(sanitize_id("Ünïcode"), "n-code");
        assert_eq!(sanitize_id(&"a".repeat(100)).len(), MAX_ID);
    }

    #[test]
    fn ids_are_deduplicated() {
        let raw = [
            "thermal-acpitz",
            "thermal-acpitz",
            "thermal-acpitz-2",
            "Thermal ACPITZ",
        ]
        .map(String::from);
        assert_eq!(
            unique_ids(raw),
            [
                "thermal-acpitz",
                "thermal-acpitz-2",
                "thermal-acpitz-2-2",
                "thermal-acpitz-3"
            ]
        );
        let long = vec!["x".repeat(80), "x".repeat(70)];
        let ids = unique_ids(long);
        assert_eq!(ids[1].len(), MAX_ID);
        assert!(ids[1].ends_with("-2"));
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_str(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(toml_str("x\u{1}"), "\"x\\u0001\"");
    }

    #[test]
    fn snippet_comments_values_and_faults() {
        let f = [
            found(
                SensorSource::W1 {
                    device: "28-0316a2791bff".into(),
                },
                "DS18B20",
                Ok(23.125),
            ),
            found(
                SensorSource::Thermal {
                    zone: "cpu-thermal".into(),
                },
                "thermal_zone0",
                Err(Fault::Crc),
            ),
        ];
        let s = snippet(&f);
        assert!(s.contains("# current: 23.1 °C\n[[sensor]]\nid = \"sensor\"\nname = \"DS18B20 28-0316a2791bff\"\nkind = \"w1\"\ndevice = \"28-0316a2791bff\"\ninterval = \"10s\"\n"), "{s}");
        assert!(s.contains("# fault: CRC mismatch"), "{s}");
        assert!(s.contains("id = \"sensor-2\""), "{s}");
    }

    #[test]
    fn snippet_skips_unreachable_namesakes() {
        let src = SensorSource::Thermal {
            zone: "acpitz".into(),
        };
        let f = [
            found(src.clone(), "thermal_zone0", Ok(27.8)),
            found(src, "thermal_zone1", Ok(29.8)),
        ];
        let s = snippet(&f);
        assert_eq!(s.matches("[[sensor]]").count(), 1, "{s}");
        assert!(s.contains("# skipped acpitz"), "{s}");
    }

    #[test]
    fn empty_scan_says_why() {
        let root = tempfile::tempdir().unwrap();
        let f = scan(root.path());
        assert!(f.is_empty());
        let t = render_table(&f);
        assert!(t.contains("No temperature sensors found"), "{t}");
        assert!(
            t.contains("w1-gpio") && t.contains("hwmon") && t.contains("container"),
            "{t}"
        );
        assert!(snippet(&f).contains("none found"));
    }

    #[test]
    fn non_thermometer_w1_devices_are_skipped() {
        let root = tempfile::tempdir().unwrap();
        let dev = w1::devices_dir(root.path());
        for d in [
            "w1_bus_master1",
            "3a-0000001a2b3c",
            "2d-000000abcdef",
            "42-000000000042",
        ] {
            fs::create_dir_all(dev.join(d)).unwrap();
        }
        fs::write(
            dev.join("42-000000000042/w1_slave"),
            "90 01 4b 46 7f ff 0c 10 ce : crc=ce YES\n90 01 4b 46 7f ff 0c 10 ce t=25000\n",
        )
        .unwrap();
        let f = scan(root.path());
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].source,
            SensorSource::W1 {
                device: "42-000000000042".into()
            }
        );
        assert_eq!(f[0].label, "DS28EA00");
        assert_eq!(f[0].value, Ok(25.0));
    }

    #[test]
    fn table_lists_every_sensor_aligned() {
        let mut f = vec![
            found(
                SensorSource::W1 {
                    device: "28-000000000001".into(),
                },
                "DS18B20",
                Ok(23.125),
            ),
            found(
                SensorSource::Hwmon {
                    chip: "nct6775".into(),
                    input: "temp1".into(),
                },
                "SYSTIN",
                Ok(34.0),
            ),
            found(
                SensorSource::Hwmon {
                    chip: "cpu_thermal".into(),
                    input: "temp1".into(),
                },
                "",
                Err(Fault::Missing("gone".into())),
            ),
        ];
        f[0].suggested_id = "w1-28-000000000001".into();
        let t = render_table(&f);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].starts_with("KIND"));
        assert!(
            lines[1].contains("w1-28-000000000001") && lines[1].contains("23.1 °C"),
            "{t}"
        );
        assert!(
            lines[2].contains("nct6775/temp1") && lines[2].contains("SYSTIN"),
            "{t}"
        );
        assert!(lines[3].contains("fault: sensor not found: gone"), "{t}");
        let col = lines[0].find("VALUE").unwrap();
        assert!(
            lines[1..].iter().all(|l| l
                .get(col..)
                .is_some_and(|v| v.starts_with("current") || v.starts_with("fault"))),
            "{t}"
        );
    }
}
