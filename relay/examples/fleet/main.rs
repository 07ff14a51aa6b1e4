//! A fleet of gateways against relays on PostgreSQL (one instance, then two
//! sharing the database) and, for reference, one relay on sled.
//!
//! ```text
//! cargo build --release --locked -p edgetherm-relay --bin edgetherm-relay --example fleet
//! target/release/examples/fleet --relay target/release/edgetherm-relay [--gateways 10000] [--window-s 60]
//! ```
//!
//! Starts its own PostgreSQL 15 cluster (trust auth on 127.0.0.1, fsync on,
//! default synchronous_commit), registers the gateways, lets each beat once
//! (warm-up: measured beats then update rows, as in steady state), and per
//! scenario posts one batch per gateway spread evenly over the window, each
//! on a new connection, 1 % with a firing event. Prints latencies, relay and
//! PostgreSQL CPU and database growth as a Markdown table. Every loop is
//! bounded by count and time; only 127.0.0.1 is used.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

mod pg;

use pg::Pg;

use edgetherm_relay::admin::{self, Reply, Request};
use edgetherm_relay::{clock, token};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const DB: &str = "edgetherm";
/// Registered through the CLI, which also creates the schema and shows the
/// token format the bulk rows must match.
const CLI_ADDED: usize = 5;
/// Measured before each window; the liveness watch runs every 5 s.
const IDLE: Duration = Duration::from_secs(15);
/// Warm-up rate: quick, yet far below what one relay answers.
const WARM_PER_S: f64 = 500.0;

/// (gateway id, token)
type Gw = (String, String);
/// (figure, value) for one scenario's column.
type Rows = Vec<(&'static str, String)>;

/// (--relay, --gateways, --window-s)
fn args() -> (PathBuf, usize, u64) {
    let mut a = (PathBuf::from("target/release/edgetherm-relay"), 10_000, 60);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--relay" => a.0 = value.into(),
            "--gateways" => a.1 = value.parse().expect("--gateways N"),
            "--window-s" => a.2 = value.parse().expect("--window-s SECONDS"),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(a.1 > CLI_ADDED, "--gateways must be > {CLI_ADDED}");
    a
}

/// Runs `f` on a one-worker runtime: the load generator shares the two
/// cores with what it measures.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    let rt = rt.worker_threads(1).enable_all().build();
    rt.expect("a tokio runtime").block_on(f)
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

fn run(c: &mut Command, what: &str) -> Output {
    let o = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let out = String::from_utf8_lossy(&o.stdout);
    let (err, st) = (String::from_utf8_lossy(&o.stderr), o.status);
    assert!(st.success(), "{what} failed ({st}):\n{out}{err}");
    o
}

/// (user+system, reaped children's user+system, ppid) in clock ticks.
fn stat(pid: u32) -> Option<(u64, u64, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = s.get(s.rfind(')')? + 2..)?.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some((n(11) + n(12), n(13) + n(14), f.get(1)?.parse().ok()?))
}

struct Relay {
    child: Child,
    port: u16,
    data_dir: PathBuf,
    log: PathBuf,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes relay `name`'s config in `dir`, `store` appended as is.
fn config(dir: &Path, name: &str, store: &str) -> (PathBuf, PathBuf, u16) {
    let (port, data_dir) = (free_port(), dir.join(format!("{name}-data")));
    std::fs::create_dir_all(&data_dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    let data = data_dir.display();
    let server = format!("listen = \"127.0.0.1:{port}\"\ndata_dir = '{data}'");
    std::fs::write(&path, format!("[server]\n{server}\n{store}")).unwrap();
    (path, data_dir, port)
}

fn start_relay(bin: &Path, dir: &Path, name: &str, store: &str) -> Relay {
    let (cfg, data_dir, port) = config(dir, name, store);
    let log = dir.join(format!("{name}.log"));
    let mut c = Command::new(bin);
    c.arg("--config").arg(&cfg).arg("serve");
    c.env("RUST_LOG", "warn").stdout(Stdio::null());
    c.stderr(std::fs::File::create(&log).unwrap());
    let child = c.spawn().unwrap_or_else(|e| panic!("{bin:?}: {e}"));
    let mut relay = Relay {
        child,
        port,
        data_dir,
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exit = relay.child.try_wait().ok().flatten();
        if exit.is_some() || Instant::now() > deadline {
            let log = std::fs::read_to_string(&relay.log).unwrap_or_default();
            panic!("relay {name} is not listening (exit {exit:?}); stderr:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    relay
}

fn hex_sha256(s: &str) -> String {
    let hash = Sha256::digest(s.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

fn pg_gateways(bin: &Path, cfg: &Path, pg: &Pg, n: usize) -> Vec<Gw> {
    let mut gws = Vec::with_capacity(n);
    for i in 0..CLI_ADDED {
        let id = format!("gw-{i:06}");
        let mut c = Command::new(bin);
        c.arg("--config").arg(cfg).args(["gateway", "add", &id]);
        let out = run(&mut c, "gateway add").stdout;
        let out = String::from_utf8_lossy(&out);
        gws.push((id, out.lines().last().unwrap_or("").trim().to_string()));
    }
    let sql = "SELECT token_sha256 FROM gateways WHERE id = 'gw-000000'";
    let stored = pg.sql_in(DB, sql);
    let ours = hex_sha256(&gws[0].1);
    assert_eq!(stored, ours, "`gateway add` hashes tokens differently");
    let created = clock::now_rfc3339();
    let mut rows = String::with_capacity(n * 120);
    for i in CLI_ADDED..n {
        let (id, t) = (format!("gw-{i:06}"), token::generate().unwrap());
        rows += &format!("{id}\t{created}\t{}\n", hex_sha256(&t));
        gws.push((id, t));
    }
    pg.copy("gateways (id, created_at, token_sha256)", &rows);
    gws
}

fn sled_gateways(relay: &Relay, n: usize) -> Vec<Gw> {
    let add = |i: usize| {
        let id = format!("gw-{i:06}");
        let req = Request::GatewayAdd { id: id.clone() };
        match admin::ask(&relay.data_dir, &req) {
            Ok(Some(Reply::Token(t))) => (id, t),
            other => panic!("gateway add {id}: {other:?}"),
        }
    };
    (0..n).map(add).collect()
}

/// 26 Crockford base-32 characters: milliseconds, a run nonce and `seq`.
fn ulid_like(seq: u64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let nanos = UNIX_EPOCH.elapsed().unwrap_or_default().as_nanos();
    let low = ((nanos & 0xff_ffff_ffff) << 40) | (seq as u128 & 0xff_ffff_ffff);
    let v = ((clock::now_ms() as u128) << 80) | low;
    let char_at = |k: u32| ALPHABET[((v >> (125 - 5 * k)) & 31) as usize] as char;
    (0..26).map(char_at).collect()
}

fn request(gateway: &str, token: &str, event: Option<String>) -> Vec<u8> {
    let now = clock::now_rfc3339();
    let events = match event {
        Some(id) => format!(
            r#"[{{"id":"{id}","kind":"firing","rule":"r","sensor":"s1","severity":"critical","value":31.4,"threshold":30.0,"direction":"above","at":"{now}"}}]"#
        ),
        None => "[]".into(),
    };
    let body = format!(
        r#"{{"gateway":"{gateway}","sent_at":"{now}","events":{events},"heartbeat":{{"uptime_s":60,"outbox":0,"interval_s":60,"sensors":[{{"id":"s1","value":21.5,"age_s":3}}]}}}}"#
    );
    let len = body.len();
    format!(
        "POST /v1/events HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{body}"
    )
    .into_bytes()
}

async fn post(port: u16, req: Vec<u8>) -> Result<u16, String> {
    let c = TcpStream::connect(("127.0.0.1", port)).await;
    let mut c = c.map_err(|e| format!("connect: {e}"))?;
    c.write_all(&req).await.map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    let read = c.read_to_end(&mut answer).await;
    read.map_err(|e| format!("read: {e}"))?;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(12)]);
    let code = head.get(9..12).and_then(|s| s.parse().ok());
    code.ok_or_else(|| format!("no status line: {head:?}"))
}

struct Outcome {
    took: Vec<Duration>,
    failed: BTreeMap<String, usize>,
    elapsed: Duration,
}

/// One batch per gateway, evenly over `spread`, round robin over `ports`
/// (shifted every hundred so that event carriers alternate too); with
/// `tag`, every hundredth batch carries a new firing event.
async fn beat(ports: &[u16], gws: &[Gw], spread: Duration, tag: Option<u64>) -> Outcome {
    let gap = spread.div_f64(gws.len() as f64);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(gws.len());
    for (i, (id, token)) in gws.iter().enumerate() {
        tokio::time::sleep_until((start + gap.mul_f64(i as f64)).into()).await;
        let tag = tag.filter(|_| i % 100 == 0);
        let req = request(id, token, tag.map(|t| ulid_like(t << 24 | i as u64)));
        let port = ports[(i + i / 100) % ports.len()];
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = tokio::time::timeout(Duration::from_secs(30), post(port, req));
            let r = r.await.unwrap_or_else(|_| Err("no answer in 30 s".into()));
            (t.elapsed(), r)
        }));
    }
    let (mut took, mut failed) = (Vec::new(), BTreeMap::new());
    for t in tasks {
        match t.await.expect("task") {
            (d, Ok(200)) => took.push(d),
            (_, Ok(code)) => *failed.entry(format!("HTTP {code}")).or_default() += 1,
            (_, Err(e)) => *failed.entry(e).or_default() += 1,
        }
    }
    took.sort();
    let elapsed = start.elapsed();
    Outcome {
        took,
        failed,
        elapsed,
    }
}

fn ms_at(sorted: &[Duration], p: f64) -> String {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    let ms = |d: &Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
    sorted.get(i).map_or("—".into(), ms)
}

/// Waits (at most 60 s) until the fleet leases are held by `relays`: the
/// relays before them were killed holding the leases, which then run out.
fn await_leases(pg: &Pg, relays: &[Relay]) {
    let t = Instant::now();
    let pids: Vec<String> = relays
        .iter()
        .map(|r| format!(":{}:", r.child.id()))
        .collect();
    let ours = |h: &str| pids.iter().any(|p| h.contains(p.as_str()));
    while t.elapsed() < Duration::from_secs(60) {
        let holders = pg.sql_in(DB, "SELECT holder FROM leases");
        if !holders.is_empty() && holders.lines().all(ours) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Posts one batch per gateway within `window` to relays already started,
/// then stops them; this scenario's figures.
fn measure(relays: Vec<Relay>, pg: Option<&Pg>, gws: &[Gw], window: Duration, tag: u64) -> Rows {
    let (n, mut r, started) = (gws.len() as f64, Rows::new(), Instant::now());
    macro_rules! row {
        ($k:expr, $($f:tt)*) => { r.push(($k, format!($($f)*))) };
    }
    // Start-up work (connections, leases) stays outside the window.
    std::thread::sleep(Duration::from_secs(2));
    let cpu = |rs: &[Relay]| -> Vec<u64> {
        let ticks = |r: &Relay| stat(r.child.id()).map_or(0, |s| s.0);
        rs.iter().map(ticks).collect()
    };
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let pct_in = |ticks: u64, secs: f64| 100.0 * ticks as f64 / hz / secs;
    let shares = |a: &[u64], b: &[u64], secs: f64| {
        let each = a
            .iter()
            .zip(b)
            .map(|(a, b)| pct_in(a.saturating_sub(*b), secs));
        each.map(|c| format!("{c:.1} %"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let takeover = pg.map(|pg| {
        await_leases(pg, &relays);
        started.elapsed().as_secs_f64()
    });
    // The periodic work the relays (and the database) do with no traffic at all.
    let (idle0, pg_idle0) = (cpu(&relays), pg.map(|p| p.cpu().0));
    std::thread::sleep(IDLE);
    let (idle1, pg_idle1) = (cpu(&relays), pg.map(|p| p.cpu().0));
    let before = pg.map(|p| (p.sizes(), p.beat_stats()));
    let ports: Vec<u16> = relays.iter().map(|r| r.port).collect();
    let (relay0, pg0) = (cpu(&relays), pg.map(Pg::cpu));
    let out = block_on(beat(&ports, gws, window, Some(tag)));
    let (relay1, pg1) = (cpu(&relays), pg.map(Pg::cpu));
    let secs = out.elapsed.as_secs_f64();
    let pct = |ticks: u64| pct_in(ticks, secs);
    let mut logs = Vec::new();
    for mut relay in relays {
        let exit = relay.child.try_wait().ok().flatten();
        let exit = exit.map(|e| format!(" ({e})")).unwrap_or_default();
        let lines = std::fs::read_to_string(&relay.log).unwrap_or_default();
        for l in lines.lines().take(5) {
            println!("scenario {tag}, relay :{}: stderr: {l}", relay.port);
        }
        logs.push(format!("{}{exit}", lines.lines().count()));
    }
    // The relays are gone: their backends flushed their statistics on exit.
    std::thread::sleep(Duration::from_secs(1));

    if let Some(t) = takeover {
        row!("fleet leases taken over (s after start)", "{t:.1}");
    }
    row!("batches answered 200 / sent", "{} / {n}", out.took.len());
    let failed = out.failed.iter().map(|(e, k)| format!("{k}× {e}"));
    let failed: Vec<String> = failed.collect();
    let count: usize = out.failed.values().sum();
    let failed = format!("{count} {}", failed.join("; "));
    row!("non-200 or no answer", "{}", failed.trim_end());
    row!("first send to last answer (s)", "{secs:.1}");
    let took = |p| ms_at(&out.took, p);
    let (p50, p99, max) = (took(0.5), took(0.99), took(1.0));
    row!("accept p50 / p99 / max (ms)", "{p50} / {p99} / {max}");
    let all = relay1
        .iter()
        .sum::<u64>()
        .saturating_sub(relay0.iter().sum());
    let each = shares(&relay1, &relay0, secs);
    row!("relay CPU, % of a core, per instance", "{each}");
    row!("relay CPU, all instances", "{:.1} %", pct(all));
    let idle = shares(&idle1, &idle0, IDLE.as_secs_f64());
    row!("idle before (no traffic): relay CPU", "{idle}");
    if let (Some((tot0, kids0)), Some((tot1, kids1))) = (pg0, pg1) {
        let mut by: BTreeMap<&str, u64> = BTreeMap::new();
        for (pid, (kind, ticks)) in &kids1 {
            let then = kids0.get(pid).map_or(0, |k| k.1);
            *by.entry(kind).or_default() += ticks.saturating_sub(then);
        }
        let rest = (tot1 - tot0).saturating_sub(by.values().sum());
        by.insert("postmaster + exited", rest);
        row!("PostgreSQL CPU, whole cluster", "{:.1} %", pct(tot1 - tot0));
        let idle = pg_idle1.unwrap_or(0) - pg_idle0.unwrap_or(0);
        let idle = pct_in(idle, IDLE.as_secs_f64());
        row!("idle before (no traffic): PostgreSQL CPU", "{idle:.1} %");
        let by = by.iter().filter(|e| *e.1 > 0);
        let by: Vec<String> = by.map(|(k, v)| format!("{k} {:.1}", pct(*v))).collect();
        row!("PostgreSQL CPU by process (%)", "{}", by.join(", "));
    }
    if let (Some(pg), Some((size0, stats0))) = (pg, before) {
        let (size1, stats1) = (pg.sizes(), pg.beat_stats());
        let d: Vec<i64> = size1.iter().zip(&size0).map(|(a, b)| a - b).collect();
        row!("database growth (bytes)", "{}", d[0]);
        let by_table = format!("{} / {} / {} / {}", d[1], d[2], d[3], d[4]);
        row!("… heartbeats / events / pending / gateways", "{by_table}");
        let per_batch = d[0] as f64 / n;
        row!("growth per batch (bytes)", "{per_batch:.1}");
        let day = per_batch * 1440.0;
        row!("**bytes per gateway-day** (see notes)", "{day:.0}");
        let (upd, hot) = (stats1[0] - stats0[0], stats1[1] - stats0[1]);
        row!("heartbeat updates (of them HOT)", "{upd} ({hot})");
        let (vacuums, dead) = (stats1[3] - stats0[3], stats1[2]);
        row!("heartbeats: autovacuums; dead rows", "{vacuums}; {dead}");
        let live = (size1[1] + size1[4]) as f64 / n;
        row!("heartbeats + gateways bytes per gateway after", "{live:.0}");
    }
    row!("relay stderr lines (RUST_LOG=warn)", "{}", logs.join(" + "));
    r
}

/// Raises the soft descriptor limit, as the relay's unit does; children inherit it.
fn raise_nofile() {
    // SAFETY: an all-zero rlimit is valid; both calls only read and write it.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn warm_up(port: u16, gws: &[Gw], what: &str) {
    let spread = Duration::from_secs_f64(gws.len() as f64 / WARM_PER_S);
    let out = block_on(beat(&[port], gws, spread, None));
    let (ok, n) = (out.took.len(), gws.len());
    let (secs, failed) = (out.elapsed.as_secs_f64(), out.failed);
    println!("warm-up ({what}): {ok} of {n} answered 200 in {secs:.1} s; failed: {failed:?}");
}

fn main() {
    let ((bin, count, window_s), began) = (args(), Instant::now());
    raise_nofile();
    let window = Duration::from_secs(window_s);
    let dir = tempfile::tempdir().expect("temp dir");
    let (bin, dir) = (bin.as_path(), dir.path());
    let pg = Pg::start();
    let port = pg.port;
    println!("PostgreSQL 15 on 127.0.0.1:{port} (fsync=on, default synchronous_commit)");
    let url = format!("postgres://{DB}@127.0.0.1:{port}/{DB}");
    let store = format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\ntls = \"disable\"\n");
    let t0 = Instant::now();
    let gws = pg_gateways(bin, &config(dir, "cli", &store).0, &pg, count);
    let (took, n) = (t0.elapsed().as_secs_f64(), gws.len());
    let how = format!("{CLI_ADDED} by `gateway add`, the others by COPY");
    println!("{n} gateways registered ({how}) in {took:.1} s");

    // A relay of its own: its token cache must not carry into the measured ones.
    let warm = start_relay(bin, dir, "warm", &store);
    warm_up(warm.port, &gws, "PostgreSQL");
    drop(warm);
    let s = pg.sizes();
    let (live, per) = (s[1] + s[4], (s[1] + s[4]) as f64 / n as f64);
    println!("after warm-up: database {} bytes; heartbeats + gateways {live} bytes = {per:.0} bytes per gateway (live rows only)", s[0]);

    let one = vec![start_relay(bin, dir, "pg1", &store)];
    let mut results = vec![measure(one, Some(&pg), &gws, window, 1)];
    let two = ["pg2a", "pg2b"].map(|name| start_relay(bin, dir, name, &store));
    results.push(measure(two.into(), Some(&pg), &gws, window, 2));
    let log = std::fs::read_to_string(pg.dir.path().join("postgres.log"));
    let log = log.unwrap_or_default();
    let levels = ["ERROR", "WARNING", "FATAL", "PANIC"];
    let bad = |l: &&str| levels.iter().any(|w| l.contains(w));
    let bad: Vec<&str> = log.lines().filter(bad).collect();
    let k = bad.len();
    println!("PostgreSQL log: {k} ERROR/WARNING/FATAL/PANIC lines: {bad:#?}");
    drop(pg);

    let sled = start_relay(bin, dir, "sled", "");
    let t0 = Instant::now();
    let sled_gws = sled_gateways(&sled, count);
    let took = t0.elapsed().as_secs_f64();
    println!("sled: {n} gateways added through the admin socket in {took:.1} s");
    warm_up(sled.port, &sled_gws, "sled");
    results.push(measure(vec![sled], None, &sled_gws, window, 3));

    let cmd = std::env::args().collect::<Vec<_>>().join(" ");
    let (w, total) = (window_s, began.elapsed().as_secs_f64());
    println!("\n`{cmd}`: {n} gateways, each one batch (1 % with a firing event) within {w} s per scenario; whole run {total:.0} s\n");
    println!("| figure | PostgreSQL, 1 relay | PostgreSQL, 2 relays | sled, 1 relay |");
    println!("|---|---:|---:|---:|");
    // The first scenario has every figure; sled lacks the PostgreSQL ones.
    for (k, _) in &results[0] {
        let found = results.iter().map(|r| r.iter().find(|e| e.0 == *k));
        let cells: Vec<&str> = found.map(|e| e.map_or("—", |e| e.1.as_str())).collect();
        println!("| {k} | {} |", cells.join(" | "));
    }
    println!("\nBytes per gateway-day extrapolates this one minute: growth per batch × 1440 batches a day. Heartbeats upsert in place, so their growth is dead row versions until autovacuum makes the space reusable; event rows (the idempotency records in `events`, and `pending` while no Teams sender drains it) accumulate: at 1 % of batches that is 14.4 events per gateway-day. Sizes move in 8 KiB pages, so with few gateways the growth is page noise.");
}
