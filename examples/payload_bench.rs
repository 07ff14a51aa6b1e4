//! MQTT payload benchmark: parses a fixed number of realistic payloads per
//! format, then routes the load generator's publish through a `Router` built
//! from the bench config (`../shared/bench/edgetherm/edgetherm.toml`'s sensor),
//! and prints ns and heap allocations per call.
//!
//! ```sh
//! cargo run --release --example payload_bench -- [--iters 200000] [--only NAME]
//! ```
//!
//! `--only NAME` runs one case (names as printed), so that an instruction
//! counter (`valgrind --tool=callgrind`, `perf stat -e instructions`) sees
//! that case alone: run it with two `--iters` values and divide the
//! difference by the difference in iterations. Allocations are counted by a
//! wrapping global allocator (one relaxed atomic add per allocation).
//! Figures belong in BENCHMARKS.md; nothing here asserts a timing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use edgetherm::config::Config;
use edgetherm::mqtt::payload::{self, Format, PayloadSpec};
use edgetherm::mqtt::Router;

/// Counts allocations and reallocations; frees are not interesting here.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What the load generator publishes (`loadgen.py`), on `sensors/s17/temperature`.
const BENCH_PAYLOAD: &str = r#"{"sensor":"s17","t":23.5,"ts":1795288628041.207}"#;
const BENCH_TOPIC: &str = "sensors/s17/temperature";

/// The bench's sensor (`../shared/bench/edgetherm/edgetherm.toml`).
const BENCH_CONFIG: &str = r#"
[agent]
gateway_id = "bench-gw"
data_dir = "/nonexistent/payload-bench"

[mqtt]
url = "mqtt://127.0.0.1:18830"

[[sensor]]
id = "{1}"
kind = "mqtt"
topic = "sensors/+/temperature"
format = "json"
field = "/t"
"#;

/// One payload, read as one sensor would.
struct Case {
    name: &'static str,
    format: Format,
    field: Option<&'static str>,
    payload: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "json-bench",
        format: Format::Json,
        field: Some("/t"),
        payload: BENCH_PAYLOAD,
    },
    Case {
        name: "json-default",
        format: Format::Json,
        field: None,
        payload: r#"{"temperature":21.5,"humidity":40.2}"#,
    },
    Case {
        name: "zigbee2mqtt",
        format: Format::Zigbee2mqtt,
        field: None,
        payload: r#"{"battery":97,"humidity":55.1,"last_seen":"2026-11-21T10:00:00.000Z","linkquality":87,"temperature":-18.4,"voltage":2985}"#,
    },
    Case {
        name: "tasmota",
        format: Format::Tasmota,
        field: None,
        payload: r#"{"Time":"2026-11-21T10:00:00","DS18B20":{"Id":"0316A2791BFF","Temperature":23.1},"TempUnit":"C"}"#,
    },
    Case {
        name: "shelly-status",
        format: Format::Shelly,
        field: None,
        payload: r#"{"id":0,"tC":21.5,"tF":70.7}"#,
    },
    Case {
        name: "shelly-notify",
        format: Format::Shelly,
        field: None,
        payload: r#"{"src":"shellyplusht-08b61fcb7f3c","dst":"shellyplusht-08b61fcb7f3c/events","method":"NotifyStatus","params":{"ts":1732183205.12,"temperature:0":{"id":0,"tC":21.6,"tF":70.9}}}"#,
    },
    Case {
        name: "plain",
        format: Format::Plain,
        field: None,
        payload: "21.5",
    },
];

/// ns and allocations per call of `f`, over `iters` calls after a warm-up.
fn measure(iters: u64, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..iters.min(1000) {
        f();
    }
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let t0 = Instant::now();
    for _ in 0..iters {
        f();
    }
    let ns = t0.elapsed().as_nanos() as f64;
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    let per = iters.max(1) as f64;
    (ns / per, allocs as f64 / per)
}

fn main() {
    let mut iters: u64 = 200_000;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--iters", Some(v)) => match v.parse() {
                Ok(n) => iters = n,
                Err(_) => fail(&format!("--iters {v:?} is not a whole number")),
            },
            ("--only", Some(v)) => only = Some(v),
            _ => fail(&format!("unknown or incomplete argument {a:?}")),
        }
    }
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);

    println!("| case | payload bytes | ns per call | allocations per call |");
    println!("|---|---:|---:|---:|");
    for case in CASES.iter().filter(|c| wanted(c.name)) {
        let spec = PayloadSpec {
            field: case.field.map(str::to_string),
            ..PayloadSpec::new(case.format)
        };
        let body = case.payload.as_bytes();
        // A benchmark of a failing parse would measure the wrong thing.
        if let Err(e) = payload::parse(&spec, body) {
            fail(&format!("{}: {e:?}", case.name));
        }
        let (ns, allocs) = measure(iters, || {
            let _ = black_box(payload::parse(black_box(&spec), black_box(body)));
        });
        println!("| {} | {} | {ns:.0} | {allocs:.1} |", case.name, body.len());
    }

    if wanted("route") {
        let cfg = match Config::parse(Path::new("payload_bench.toml"), BENCH_CONFIG) {
            Ok(cfg) => cfg,
            Err(e) => fail(&format!("the bench config is invalid: {e}")),
        };
        let router = Router::new(&cfg);
        let body = BENCH_PAYLOAD.as_bytes();
        let mut ignored = 0u64;
        let routed = router.route(BENCH_TOPIC, body, false, 0, &mut ignored);
        if routed.len() != 1 || routed[0].sensor != "s17" || routed[0].value.is_err() {
            fail(&format!(
                "route gave {routed:?}, expected one reading of s17"
            ));
        }
        let (ns, allocs) = measure(iters, || {
            let r = router.route(
                black_box(BENCH_TOPIC),
                black_box(body),
                false,
                0,
                &mut ignored,
            );
            black_box(r);
        });
        println!(
            "| route ({BENCH_TOPIC}, json /t) | {} | {ns:.0} | {allocs:.1} |",
            body.len()
        );
    }
    println!("\n{iters} calls per case after a warm-up of up to 1000.");
}

fn fail(msg: &str) -> ! {
    eprintln!("payload_bench: {msg}");
    std::process::exit(2);
}
