//! Store benchmark: a week (or `--days`) of simulated readings, fast-forwarded,
//! in the agent's write pattern, then as long again at steady state (retention
//! deleting as fast as readings arrive: the insert/delete queue of sled #1333).
//!
//! ```sh
//! cargo run --release --example store_bench -- [--days 7] [--sensors 10] \
//!     [--interval-s 10] [--retention-days 7] [--max-disk-mib 256] \
//!     [--dir PATH] [--out FILE] [--time-limit-s 1200] [--flush-s 60] [--cache-kib 1024]
//! ```
//!
//! The wall clock is simulated (no sleeping): every `--interval-s` simulated
//! seconds each sensor appends one reading; every 60 simulated seconds the
//! agent's flush is done (`note_wall_ms` + `flush`); every 5 simulated minutes
//! `trim(now, retention, max_disk)`. Every 12 simulated hours a row is sampled:
//! readings stored, `size_on_disk()`, the store directory's bytes (apparent and
//! allocated), RSS / peak RSS, wall seconds, bytes written by the process.
//! At the end: re-open time, append throughput, a 1 h `readings_since` query.
//!
//! Prints Markdown to stdout (and to `--out` if given). Figures belong in
//! BENCHMARKS.md; nothing here asserts a timing.

mod args;
mod procfs;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use edgetherm::reading::{Fault, Mono, Reading, Wall};
use edgetherm::store::{Store, StoreOptions};

use args::parse_args;
use procfs::{dir_usage, kib_to_mib, mib, rss_kib, write_bytes};

const TRIM_EVERY_MS: i64 = 300_000;
const SAMPLE_EVERY_MS: i64 = 12 * 3_600_000;
const MIB: u64 = 1 << 20;

/// A realistic-looking value: a slow daily sine per sensor, plus a fault now and then.
fn value(sensor: usize, t_ms: i64, n: u64) -> Result<f64, Fault> {
    if n % 997 == 0 {
        return Err(Fault::Crc);
    }
    let day = t_ms as f64 / 86_400_000.0;
    Ok(20.0 + sensor as f64 * 0.5 + 3.0 * (day * std::f64::consts::TAU).sin())
}

struct Row {
    day: f64,
    stored: usize,
    sled_size: u64,
    dir_len: u64,
    dir_alloc: u64,
    files: u64,
    rss: Option<u64>,
    hwm: Option<u64>,
    wall_s: f64,
    written: Option<u64>,
    max_flush_ms: f64,
    max_trim_ms: f64,
    dropped_space: u64,
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let tmp;
    let data_dir = match &args.dir {
        Some(d) => {
            if Store::dir_in(d).exists() {
                eprintln!(
                    "{} already holds a store: give an empty or new --dir",
                    d.display()
                );
                std::process::exit(2);
            }
            d.clone()
        }
        None => {
            // In ./target when there is one rather than /tmp, which may be a
            // tmpfs (no real disk writes to measure).
            let base = Path::new("target");
            let base = if base.is_dir() {
                base.to_path_buf()
            } else {
                std::env::temp_dir()
            };
            tmp = tempfile::Builder::new()
                .prefix("store_bench.")
                .tempdir_in(&base)
                .expect("a temporary directory");
            tmp.path().to_path_buf()
        }
    };
    let store_dir = Store::dir_in(&data_dir);
    // The simulated span ends at about the real now (start of today, UTC), so
    // a kept store (`--dir`) looks like a real week to an agent run on it
    // afterwards (its clock sanity floor is the newest stamp stored).
    let today_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        / 86_400_000
        * 86_400_000;
    #[allow(non_snake_case)]
    let T0_MS = today_ms - (2 * args.days * 86_400_000) as i64;
    let (rss_before_open, _) = rss_kib();
    let opts = StoreOptions {
        cache_bytes: args.cache_kib << 10,
        ..StoreOptions::default()
    };
    #[allow(non_snake_case)]
    let FLUSH_EVERY_MS = (args.flush_s * 1000) as i64;
    let io_start = write_bytes();
    let started = Instant::now();
    let limit = Duration::from_secs(args.time_limit_s);

    let (mut store, _) = Store::open(&data_dir, &opts).expect("store opens");
    let sensors: Vec<String> = (0..args.sensors)
        .map(|i| format!("rack{:02}-inlet", i + 1))
        .collect();
    let interval_ms = (args.interval_s * 1000) as i64;
    let retention_ms = (args.retention_days * 86_400_000) as i64;
    let max_disk = args.max_disk_mib * MIB;
    let end_ms = T0_MS + (2 * args.days * 86_400_000) as i64;

    let mut rows = Vec::new();
    let mut appended = 0u64;
    let mut append_time = Duration::ZERO;
    let mut flush_time = Duration::ZERO;
    let mut trim_time = Duration::ZERO;
    let (mut flushes, mut trims) = (0u64, 0u64);
    let (mut expired, mut for_space) = (0u64, 0u64);
    let (mut win_flush, mut win_trim, mut win_space) = (Duration::ZERO, Duration::ZERO, 0u64);
    let mut next_flush = T0_MS + FLUSH_EVERY_MS;
    let mut next_trim = T0_MS + TRIM_EVERY_MS;
    let mut next_sample = T0_MS;
    let mut stopped_early = None;
    let mut now = T0_MS;

    // One step per reading interval; bounded by the simulated span and the time limit.
    while now <= end_ms {
        if now >= next_sample {
            let (len, alloc, files) = dir_usage(&store_dir);
            let (rss, hwm) = rss_kib();
            let row = Row {
                day: (now - T0_MS) as f64 / 86_400_000.0,
                stored: store.reading_count(),
                sled_size: store.size_on_disk(),
                dir_len: len,
                dir_alloc: alloc,
                files,
                rss,
                hwm,
                wall_s: started.elapsed().as_secs_f64(),
                written: write_bytes()
                    .zip(io_start)
                    .map(|(w, s)| w.saturating_sub(s)),
                max_flush_ms: win_flush.as_secs_f64() * 1e3,
                max_trim_ms: win_trim.as_secs_f64() * 1e3,
                dropped_space: win_space,
            };
            eprintln!(
                "day {:5.1}: {} readings, sled {} MiB, dir {} MiB, rss {} MiB, {:.0} s",
                row.day,
                row.stored,
                mib(row.sled_size),
                mib(row.dir_alloc),
                kib_to_mib(row.rss),
                row.wall_s
            );
            rows.push(row);
            (win_flush, win_trim, win_space) = (Duration::ZERO, Duration::ZERO, 0);
            next_sample += SAMPLE_EVERY_MS;
            if started.elapsed() > limit {
                stopped_early = Some(now);
                break;
            }
        }
        let t = Instant::now();
        for (i, s) in sensors.iter().enumerate() {
            // Spread the sensors over the interval, as independent pollers would be.
            let ms = now + (i as i64 * 37) % interval_ms;
            let r = Reading {
                sensor: s.clone(),
                mono: Mono::ORIGIN.plus_ms((ms - T0_MS) as u64),
                wall: Wall {
                    ms,
                    unsynced: false,
                },
                value: value(i, ms, appended),
            };
            store.append_reading(&r).expect("append");
            appended += 1;
        }
        append_time += t.elapsed();
        now += interval_ms;
        if now >= next_flush {
            let t = Instant::now();
            store.note_wall_ms(now).expect("note wall");
            store.flush().expect("flush");
            let d = t.elapsed();
            flush_time += d;
            win_flush = win_flush.max(d);
            flushes += 1;
            next_flush += FLUSH_EVERY_MS;
        }
        if now >= next_trim {
            let t = Instant::now();
            let rep = store.trim(Some(now), retention_ms, max_disk).expect("trim");
            let d = t.elapsed();
            trim_time += d;
            win_trim = win_trim.max(d);
            trims += 1;
            expired += rep.expired;
            for_space += rep.for_space;
            win_space += rep.for_space;
            next_trim += TRIM_EVERY_MS;
            if started.elapsed() > limit {
                stopped_early = Some(now);
                break;
            }
        }
    }
    let total_wall = started.elapsed();
    store.flush().expect("final flush");

    // A 1 h query of one sensor, as `edgetherm history <sensor> --since 1h` does.
    let q = Instant::now();
    let hour = store
        .readings_since(&sensors[0], now - 3_600_000, 100_000)
        .expect("query");
    let query_ms = q.elapsed().as_secs_f64() * 1e3;
    // The same from the oldest reading kept (a whole-retention scan).
    let q = Instant::now();
    let all = store
        .readings_since(&sensors[0], i64::MIN, usize::MAX)
        .expect("query");
    let query_all_ms = q.elapsed().as_secs_f64() * 1e3;
    let stored_before = store.reading_count();
    let (rss_end, hwm_end) = rss_kib();

    drop(store);
    let o = Instant::now();
    let (reopened, how) = Store::open(&data_dir, &opts).expect("store re-opens");
    let how = how.opened;
    let reopen_ms = o.elapsed().as_secs_f64() * 1e3;
    store = reopened;
    let stored_after = store.reading_count();
    let (rss_reopen, _) = rss_kib();
    // A second warm re-open: the first one replays sled's log since its last
    // snapshot (written when the running store was dropped, maybe late).
    drop(store);
    let o = Instant::now();
    let (reopened, _) = Store::open(&data_dir, &opts).expect("store re-opens");
    let reopen2_ms = o.elapsed().as_secs_f64() * 1e3;
    store = reopened;
    // Again with the store's files evicted from the page cache (GNU dd
    // `iflag=nocache count=0` advises the kernel to drop a whole file's pages;
    // other files' cache is untouched), closer to a cold start after a reboot.
    drop(store);
    let mut evicted = 0usize;
    let mut stack = vec![store_dir.clone()];
    for _ in 0..100 {
        let Some(d) = stack.pop() else { break };
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten().take(10_000) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::process::Command::new("dd")
                .arg(format!("if={}", p.display()))
                .args(["iflag=nocache", "count=0", "status=none"])
                .status()
                .is_ok_and(|s| s.success())
            {
                evicted += 1;
            }
        }
    }
    let o = Instant::now();
    let (reopened, _) = Store::open(&data_dir, &opts).expect("store re-opens");
    let cold_ms = o.elapsed().as_secs_f64() * 1e3;
    store = reopened;
    let (dir_len, dir_alloc, files) = dir_usage(&store_dir);
    let mut listing: Vec<String> = std::fs::read_dir(&store_dir)
        .map(|rd| {
            rd.flatten()
                .take(1000)
                .map(|e| {
                    let len = e.metadata().map_or(0, |m| m.len());
                    format!("`{}` {}", e.file_name().to_string_lossy(), mib(len))
                })
                .collect()
        })
        .unwrap_or_default();
    listing.sort();
    let sled_size = store.size_on_disk();
    let written = write_bytes()
        .zip(io_start)
        .map(|(w, s)| w.saturating_sub(s));

    // The report.
    let mut md = String::new();
    let sim_days = (now - T0_MS) as f64 / 86_400_000.0;
    let _ = writeln!(
        md,
        "### store_bench: {} sensors every {} s, {} + {} simulated days, retention {} d, max_disk {} MiB, flush every {} s, cache {} KiB\n",
        args.sensors, args.interval_s, args.days, args.days, args.retention_days, args.max_disk_mib, args.flush_s, args.cache_kib
    );
    let _ = writeln!(md, "Store directory: `{}`.\n", store_dir.display());
    if let Some(at) = stopped_early {
        let _ = writeln!(
            md,
            "**Stopped early** at simulated day {:.1}: the {} s time limit was reached.\n",
            (at - T0_MS) as f64 / 86_400_000.0,
            args.time_limit_s
        );
    }
    if io_start.is_none() {
        let _ = writeln!(
            md,
            "`/proc/self/io` is not readable here: bytes written are not measured.\n"
        );
    }
    let _ = writeln!(
        md,
        "| sim day | readings stored | size_on_disk MiB | dir apparent MiB | dir allocated MiB | files | RSS MiB | peak RSS MiB | wall s | written MiB | max flush ms | max trim ms | dropped for space |"
    );
    let _ = writeln!(
        md,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &rows {
        let _ = writeln!(
            md,
            "| {:.1} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {:.1} | {:.1} | {} |",
            r.day,
            r.stored,
            mib(r.sled_size),
            mib(r.dir_len),
            mib(r.dir_alloc),
            r.files,
            kib_to_mib(r.rss),
            kib_to_mib(r.hwm),
            r.wall_s,
            r.written.map_or_else(|| "n/a".into(), mib),
            r.max_flush_ms,
            r.max_trim_ms,
            r.dropped_space
        );
    }
    let secs = |d: Duration| d.as_secs_f64().max(1e-9);
    let _ = writeln!(md);
    let _ = writeln!(md, "| figure | value |\n|---|---:|");
    let _ = writeln!(md, "| simulated days run | {sim_days:.1} |");
    let _ = writeln!(md, "| readings appended | {appended} |");
    let _ = writeln!(
        md,
        "| append throughput (append_reading only) | {:.0} readings/s |",
        appended as f64 / secs(append_time)
    );
    let _ = writeln!(
        md,
        "| overall throughput (append + flush + trim + sampling) | {:.0} readings/s |",
        appended as f64 / secs(total_wall)
    );
    let _ = writeln!(
        md,
        "| flushes / total / mean | {} / {:.1} s / {:.2} ms |",
        flushes,
        flush_time.as_secs_f64(),
        flush_time.as_secs_f64() * 1e3 / flushes.max(1) as f64
    );
    let _ = writeln!(
        md,
        "| trims / total / mean | {} / {:.1} s / {:.2} ms |",
        trims,
        trim_time.as_secs_f64(),
        trim_time.as_secs_f64() * 1e3 / trims.max(1) as f64
    );
    let _ = writeln!(
        md,
        "| readings expired / dropped for space | {expired} / {for_space} |"
    );
    let _ = writeln!(
        md,
        "| `readings_since` 1 h of one sensor | {} rows in {query_ms:.2} ms |",
        hour.len()
    );
    let _ = writeln!(
        md,
        "| `readings_since` all of one sensor | {} rows in {query_all_ms:.1} ms |",
        all.len()
    );
    let _ = writeln!(
        md,
        "| RSS / peak RSS at the end | {} / {} MiB |",
        kib_to_mib(rss_end),
        kib_to_mib(hwm_end)
    );
    let _ = writeln!(
        md,
        "| re-open (drop, `Store::open`, page cache warm) | {reopen_ms:.0} ms ({how:?}); {stored_before} readings before, {stored_after} after |"
    );
    let _ = writeln!(
        md,
        "| second re-open, page cache warm | {reopen2_ms:.0} ms |"
    );
    let _ = writeln!(
        md,
        "| re-open with the store's {evicted} files evicted from the page cache (`dd iflag=nocache`) | {cold_ms:.0} ms |"
    );
    let _ = writeln!(
        md,
        "| RSS before the first `Store::open` | {} MiB |",
        kib_to_mib(rss_before_open)
    );
    let _ = writeln!(
        md,
        "| RSS after the first re-open (same process, old handle dropped) | {} MiB |",
        kib_to_mib(rss_reopen)
    );
    let _ = writeln!(
        md,
        "| after re-open: size_on_disk / dir apparent / dir allocated / files | {} / {} / {} MiB / {} |",
        mib(sled_size),
        mib(dir_len),
        mib(dir_alloc),
        files
    );
    let _ = writeln!(
        md,
        "| store directory after (MiB) | {} |",
        listing.join(", ")
    );
    let _ = writeln!(
        md,
        "| bytes written by the process | {} |",
        written.map_or_else(
            || "n/a".into(),
            |w| format!(
                "{} MiB ({} MiB per simulated day)",
                mib(w),
                mib((w as f64 / sim_days.max(1e-9)) as u64)
            )
        )
    );
    if let Some(w) = written {
        let _ = writeln!(
            md,
            "| bytes written per reading appended | {:.1} |",
            w as f64 / appended.max(1) as f64
        );
    }
    let _ = writeln!(
        md,
        "| store per reading kept (size_on_disk / readings stored) | {:.1} bytes |",
        sled_size as f64 / stored_after.max(1) as f64
    );
    let _ = writeln!(
        md,
        "| readings dropped from memory / damaged blocks | {} / {} |",
        store.readings_dropped(),
        store.damaged_blocks()
    );
    if args.dir.is_some() {
        let _ = writeln!(md, "\nThe store is kept in `{}`.", store_dir.display());
    }
    print!("{md}");
    if let Some(out) = &args.out {
        if let Err(e) = std::fs::write(out, &md) {
            eprintln!("cannot write {}: {e}", out.display());
        }
    }
}
