//! Telling "this user may not use these files" from damage: a store left
//! owned by root (an agent once started by hand with sudo) or made
//! unreadable must be explained and left alone, not moved aside as damaged.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::StoreError;

/// Fails with a `Permission` error if this process may not read and write
/// the data dir, the store dir or any file in it.
pub fn check(data_dir: &Path, store: &Path) -> Result<(), StoreError> {
    let mut paths = vec![data_dir.to_path_buf()];
    if store.exists() {
        paths.push(store.to_path_buf());
    }
    if store.is_dir() {
        let mut dirs = vec![store.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| {
                explain(&dir, &e).unwrap_or_else(|| StoreError::Io {
                    what: "cannot list",
                    path: dir.clone(),
                    source: e,
                })
            })?;
            for entry in entries.flatten() {
                let p = entry.path();
                if p.is_dir() {
                    dirs.push(p.clone());
                }
                paths.push(p);
            }
        }
    }
    for p in &paths {
        let dir = p.is_dir();
        let mode = libc::R_OK | libc::W_OK | if dir { libc::X_OK } else { 0 };
        if !accessible(p, mode) {
            let source = std::io::Error::from_raw_os_error(libc::EACCES);
            return Err(explain(p, &source).expect("EACCES is a permission error"));
        }
    }
    Ok(())
}

/// True if the effective user may access `path` with `mode`.
fn accessible(path: &Path, mode: libc::c_int) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the length of the call.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) == 0 }
}

/// A `Permission` error for `path` if `e` is one (EACCES / EPERM / EROFS).
pub fn explain(path: &Path, e: &std::io::Error) -> Option<StoreError> {
    let code = e.raw_os_error()?;
    if code == libc::EROFS {
        return Some(StoreError::Permission(format!(
            "store {}: the file system is read-only ({e}); the agent needs to write its data_dir: remount it read-write or point [agent] data_dir at a writable place",
            path.display()
        )));
    }
    if code != libc::EACCES && code != libc::EPERM {
        return None;
    }
    let me = user_name(unsafe { libc::geteuid() });
    let (owner, mode) = std::fs::symlink_metadata(path)
        .map(|m| {
            (
                format!("{}:{}", user_name(m.uid()), group_name(m.gid())),
                format!("{:o}", m.mode() & 0o7777),
            )
        })
        .unwrap_or_else(|_| ("?".into(), "?".into()));
    let top = path
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "store"))
        .and_then(Path::parent)
        .unwrap_or(path);
    Some(StoreError::Permission(format!(
        "store: permission denied on {} for user {me} (it is owned by {owner}, mode {mode}). This is not damage: the store is left as it is. Give the agent's user its data_dir back, e.g. `sudo chown -R {me}: {}`, or run the agent as the owner",
        path.display(),
        top.display()
    )))
}

fn user_name(uid: u32) -> String {
    passwd_field("/etc/passwd", uid).unwrap_or_else(|| format!("uid {uid}"))
}

fn group_name(gid: u32) -> String {
    passwd_field("/etc/group", gid).unwrap_or_else(|| format!("gid {gid}"))
}

/// The name for `id` in a passwd-format file (name:x:id:...).
fn passwd_field(file: &str, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        f.next()?;
        (f.next()?.parse::<u32>().ok()? == id).then(|| name.to_string())
    })
}
