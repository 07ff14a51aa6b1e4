//! store_bench's command line.

use std::path::PathBuf;

use edgetherm::store::StoreOptions;

pub struct Args {
    pub days: u64,
    pub sensors: usize,
    pub interval_s: u64,
    pub retention_days: u64,
    pub max_disk_mib: u64,
    pub dir: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub time_limit_s: u64,
    pub flush_s: u64,
    pub cache_kib: u64,
}

const USAGE: &str =
    "usage: store_bench [--days 7] [--sensors 10] [--interval-s 10] [--retention-days 7] \
[--max-disk-mib 256] [--dir PATH] [--out FILE] [--time-limit-s 1200] [--flush-s 60] [--cache-kib 1024]";

pub fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        days: 7,
        sensors: 10,
        interval_s: 10,
        retention_days: 7,
        max_disk_mib: 256,
        dir: None,
        out: None,
        time_limit_s: 1200,
        flush_s: 60,
        cache_kib: StoreOptions::default().cache_bytes >> 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let val = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = || val.parse::<u64>().map_err(|e| format!("{flag} {val}: {e}"));
        match flag.as_str() {
            "--days" => a.days = num()?,
            "--sensors" => a.sensors = num()? as usize,
            "--interval-s" => a.interval_s = num()?,
            "--retention-days" => a.retention_days = num()?,
            "--max-disk-mib" => a.max_disk_mib = num()?,
            "--time-limit-s" => a.time_limit_s = num()?,
            "--flush-s" => a.flush_s = num()?.max(1),
            "--cache-kib" => a.cache_kib = num()?.max(64),
            "--dir" => a.dir = Some(PathBuf::from(&val)),
            "--out" => a.out = Some(PathBuf::from(&val)),
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    if a.days == 0
        || a.sensors == 0
        || a.interval_s == 0
        || a.retention_days == 0
        || a.max_disk_mib == 0
    {
        return Err(format!("--days, --sensors, --interval-s, --retention-days and --max-disk-mib must be > 0\n{USAGE}"));
    }
    if a.sensors > 10_000 || a.days > 365 {
        return Err("at most 10000 sensors and 365 days".into());
    }
    Ok(a)
}
