//! Reconnect storm and fleet load against a real relay process on loopback.
//!
//! ```text
//! cargo build --release --locked -p edgetherm-relay --bin edgetherm-relay --example storm
//! target/release/examples/storm [--relay target/release/edgetherm-relay]
//!     [--storm 2000] [--fleet 10000] [--fleet-s 60] [--rounds 3]
//! ```
//!
//! 1. Storm: `--storm` gateways each open their own connection at the same
//!    moment and post one heartbeat batch (1 % also carry a firing event);
//!    prints when the last answer came, p50/p99 and any non-200, per round.
//! 2. Fleet: `--fleet` gateways each post a heartbeat once in `--fleet-s`
//!    seconds, on a new connection each (as a gateway beating every 60 s
//!    does), spread evenly; prints the relay's CPU (user+system from
//!    /proc) over that window as a share of one core.
//!
//! Every loop is bounded by the counts above; only 127.0.0.1 is used.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgetherm_relay::admin::{self, Reply, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

struct Args {
    relay: PathBuf,
    storm: usize,
    fleet: usize,
    fleet_s: u64,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        relay: PathBuf::from("target/release/edgetherm-relay"),
        storm: 2000,
        fleet: 10_000,
        fleet_s: 60,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--relay" => a.relay = value.into(),
            "--storm" => a.storm = value.parse().expect("--storm N"),
            "--fleet" => a.fleet = value.parse().expect("--fleet N"),
            "--fleet-s" => a.fleet_s = value.parse().expect("--fleet-s SECONDS"),
            "--rounds" => a.rounds = value.parse().expect("--rounds N"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

struct Relay {
    child: Child,
    port: u16,
    data_dir: PathBuf,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_relay(bin: &Path, dir: &Path) -> Relay {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let data_dir = dir.join("data");
    let config = dir.join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = '{}'\n",
            data_dir.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("relay.log")).unwrap();
    let child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the relay did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Relay {
        child,
        port,
        data_dir,
    }
}

fn add_gateways(relay: &Relay, prefix: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let id = format!("{prefix}-{i:05}");
            let req = Request::GatewayAdd { id: id.clone() };
            match admin::ask(&relay.data_dir, &req) {
                Ok(Some(Reply::Token(t))) => (id, t),
                other => panic!("gateway add {id}: {other:?}"),
            }
        })
        .collect()
}

/// One batch: a heartbeat, and for every hundredth gateway a firing event.
fn request(gateway: &str, token: &str, round: usize, i: usize) -> Vec<u8> {
    let events = if i % 100 == 0 {
        format!(
            r#"[{{"id":"storm-{round}-{i}","kind":"firing","rule":"r","sensor":"s1","severity":"critical","value":31.4,"threshold":30.0,"direction":"above","at":"2026-12-07T10:00:00.000Z"}}]"#
        )
    } else {
        "[]".into()
    };
    let body = format!(
        r#"{{"gateway":"{gateway}","sent_at":"2026-12-07T10:00:00.000Z","events":{events},"heartbeat":{{"uptime_s":60,"outbox":0,"interval_s":60,"sensors":[{{"id":"s1","value":21.5,"age_s":3}}]}}}}"#
    );
    format!(
        "POST /v1/events HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Posts one request on a new connection; the status code, or why none.
async fn post(port: u16, req: Vec<u8>) -> Result<u16, String> {
    let mut c = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    c.write_all(&req).await.map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    c.read_to_end(&mut answer)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(12)]).into_owned();
    head.get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn storm(port: u16, gateways: &[(String, String)], round: usize) {
    let barrier = Arc::new(Barrier::new(gateways.len() + 1));
    let mut tasks = Vec::with_capacity(gateways.len());
    for (i, (id, token)) in gateways.iter().enumerate() {
        let req = request(id, token, round, i);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let t = Instant::now();
            let r = tokio::time::timeout(Duration::from_secs(60), post(port, req)).await;
            (t.elapsed(), r)
        }));
    }
    let start = Instant::now();
    barrier.wait().await;
    let mut took = Vec::new();
    let mut failed = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            (d, Ok(Ok(200))) => took.push(d),
            (_, Ok(Ok(code))) => failed.push(format!("HTTP {code}")),
            (_, Ok(Err(e))) => failed.push(e),
            (_, Err(_)) => failed.push("no answer in 60 s".into()),
        }
    }
    let all = start.elapsed();
    took.sort();
    let (p50, p99, max) = if took.is_empty() {
        Default::default()
    } else {
        (
            percentile(&took, 0.5),
            percentile(&took, 0.99),
            *took.last().unwrap(),
        )
    };
    println!(
        "storm round {round}: {} batches at once: all answered in {:.2} s; p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {} failed{}",
        gateways.len(),
        all.as_secs_f64(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        failed.len(),
        failed.first().map(|f| format!(" (first: {f})")).unwrap_or_default()
    );
}

/// user+system CPU ticks of `pid`.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

async fn fleet(relay: &Relay, gateways: &[(String, String)], window: Duration) {
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let gap = window.div_f64(gateways.len() as f64);
    let before = cpu_ticks(relay.child.id());
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(gateways.len());
    for (i, (id, token)) in gateways.iter().enumerate() {
        tokio::time::sleep_until((start + gap.mul_f64(i as f64)).into()).await;
        let req = request(id, token, 1_000_000, i + 1);
        let port = relay.port;
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = tokio::time::timeout(Duration::from_secs(30), post(port, req)).await;
            (
                r.map_err(|_| "no answer in 30 s".to_string())
                    .and_then(|r| r),
                t.elapsed(),
            )
        }));
    }
    let mut took = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await.expect("task") {
            (Ok(200), d) => took.push(d),
            _ => failed += 1,
        }
    }
    let elapsed = start.elapsed();
    let cpu = (cpu_ticks(relay.child.id()) - before) as f64 / ticks_per_s;
    took.sort();
    println!(
        "fleet: {} gateways, one heartbeat each over {:.1} s ({:.0}/s): relay CPU {:.2} s = {:.1} % of a core; p50 {:.1} ms, p99 {:.1} ms; {failed} failed",
        gateways.len(),
        elapsed.as_secs_f64(),
        gateways.len() as f64 / elapsed.as_secs_f64(),
        cpu,
        100.0 * cpu / elapsed.as_secs_f64(),
        percentile(&took, 0.5).as_secs_f64() * 1e3,
        percentile(&took, 0.99).as_secs_f64() * 1e3,
    );
}

/// Raises the soft descriptor limit to the hard one, for this process and
/// the relay it starts, as the relay's unit does (LimitNOFILE=16384).
fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls only read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() {
    let a = args();
    raise_nofile();
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = start_relay(&a.relay, dir.path());
    let t = Instant::now();
    let storm_gws = add_gateways(&relay, "storm", a.storm);
    let fleet_gws = add_gateways(&relay, "fleet", a.fleet.saturating_sub(a.storm));
    println!(
        "{} gateways added in {:.1} s",
        storm_gws.len() + fleet_gws.len(),
        t.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for round in 1..=a.rounds {
            storm(relay.port, &storm_gws, round).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        if a.fleet > 0 {
            let all: Vec<(String, String)> = storm_gws.iter().chain(&fleet_gws).cloned().collect();
            fleet(&relay, &all, Duration::from_secs(a.fleet_s)).await;
        }
    });
}
