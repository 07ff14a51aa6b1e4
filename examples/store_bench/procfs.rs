//! What store_bench reads about itself and its store from /proc and the file system.

use std::path::Path;

const MIB: u64 = 1 << 20;

/// VmRSS and VmHWM in KiB, from /proc/self/status.
pub fn rss_kib() -> (Option<u64>, Option<u64>) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `write_bytes` from /proc/self/io (bytes this process caused to be sent to
/// the block layer), if the kernel exposes it.
pub fn write_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines()
        .find(|l| l.starts_with("write_bytes:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// (apparent bytes, allocated bytes = st_blocks * 512, files) under `dir`,
/// walked to a bounded depth and file count.
pub fn dir_usage(dir: &Path) -> (u64, u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut len, mut alloc, mut files) = (0u64, 0u64, 0u64);
    let mut stack = vec![(dir.to_path_buf(), 0u32)];
    let mut visited = 0u32;
    while let Some((d, depth)) = stack.pop() {
        visited += 1;
        if visited > 10_000 {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten().take(100_000) {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                if depth < 8 {
                    stack.push((e.path(), depth + 1));
                }
            } else {
                len += m.len();
                alloc += m.blocks() * 512;
                files += 1;
            }
        }
    }
    (len, alloc, files)
}

pub fn mib(b: u64) -> String {
    format!("{:.2}", b as f64 / MIB as f64)
}

pub fn kib_to_mib(k: Option<u64>) -> String {
    k.map_or_else(|| "n/a".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}
