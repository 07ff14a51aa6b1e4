//! A store this user may not write (left owned by root after an agent was
//! started by hand with sudo) is explained and left where it is: not
//! mistaken for damage and moved aside. Needs root to run the agent as
//! `nobody`; without root it says skipped.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::common::{sensor_status, Setup};
use crate::sensor;

#[test]
fn a_store_owned_by_another_user_is_explained_not_moved_aside() {
    if unsafe { libc::geteuid() } != 0 {
        if std::env::var_os("EDGETHERM_REQUIRE_ROOT").is_some_and(|v| v == "1") {
            panic!("EDGETHERM_REQUIRE_ROOT=1 but the tests do not run as root");
        }
        eprintln!("skipped: running the agent as another user needs root");
        return;
    }
    let body = sensor(
        "room",
        "sim",
        "pattern = \"constant\"\nvalue = 21.5",
        "100ms",
    );
    let s = Setup::new(None, &body);
    // nobody must reach the config; the store stays root's.
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut agent = s.start();
    agent.wait_started();
    s.wait_status("a reading", |st| {
        sensor_status(st, "room")["value"].as_f64() == Some(21.5)
    });
    assert!(agent.terminate().success(), "{}", agent.log());

    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_edgetherm"))
        .args(["run", "--config"])
        .arg(&s.config)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("permission denied on"), "{stderr}");
    assert!(stderr.contains("for user nobody"), "{stderr}");
    assert!(stderr.contains("owned by root:root"), "{stderr}");
    assert!(stderr.contains("This is not damage"), "{stderr}");
    assert!(
        stderr.contains(&format!("sudo chown -R nobody: {}", s.data_dir.display())),
        "{stderr}"
    );
    let moved = std::fs::read_dir(&s.data_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("store.damaged")
        })
        .count();
    assert_eq!(moved, 0, "the store was moved aside as if damaged");
    // The store is intact for its owner.
    assert!(!s.history("room").is_empty());
}
