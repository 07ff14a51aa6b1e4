//! `edgetherm scan`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::SensorSource;
use crate::scan::Found;

/// Lists the sensors found under `sysfs_root` (and on the given I2C buses) and prints a config snippet.
pub fn scan(
    sysfs_root: &Path,
    i2c_buses: &[PathBuf],
    mqtt: Option<(crate::config::MqttConfig, std::time::Duration)>,
) -> ExitCode {
    let mut found = crate::scan::scan(sysfs_root);
    if let Some((broker, listen)) = mqtt {
        eprintln!("listening on {} for {} s ...", broker.url, listen.as_secs());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        match rt.block_on(crate::mqtt::discover::listen(&broker, listen)) {
            Ok(seen) => {
                let with_temps = crate::mqtt::discover::found(&seen);
                eprintln!(
                    "{} topic(s) heard, {} with a temperature",
                    seen.len(),
                    with_temps.len()
                );
                found.extend(with_temps);
            }
            Err(e) => {
                eprintln!("edgetherm: mqtt {}: {e}", broker.url);
                return ExitCode::FAILURE;
            }
        }
    }
    for bus in i2c_buses {
        for (chip, address, value) in crate::sources::i2c::probe_bus(bus) {
            if chip.is_empty() {
                // The bus itself could not be opened.
                if let Err(fault) = value {
                    eprintln!("edgetherm: i2c {}: {fault}", bus.display());
                }
                continue;
            }
            let dev = bus
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.push(Found {
                suggested_id: format!("{chip}-{dev}-{address:02x}"),
                label: format!("{chip} at 0x{address:02x}"),
                source: SensorSource::I2c {
                    bus: bus.clone(),
                    chip,
                    address,
                },
                value,
            });
        }
    }
    println!("{}", crate::scan::render_table(&found));
    if !found.is_empty() {
        println!("# Paste into your config (e.g. /etc/edgetherm/edgetherm.toml):\n");
        println!("{}", crate::scan::snippet(&found));
    }
    ExitCode::SUCCESS
}
