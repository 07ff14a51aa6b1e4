//! `edgetherm scan`.

use std::path::Path;
use std::process::ExitCode;

/// Lists the sensors found under `sysfs_root` and prints a config snippet.
pub fn scan(sysfs_root: &Path) -> ExitCode {
    let found = crate::scan::scan(sysfs_root);
    println!("{}", crate::scan::render_table(&found));
    if !found.is_empty() {
        println!("# Paste into your config (e.g. /etc/edgetherm/edgetherm.toml):\n");
        println!("{}", crate::scan::snippet(&found));
    }
    ExitCode::SUCCESS
}
