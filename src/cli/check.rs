//! `edgetherm check-config`.

use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::config::units::{format_duration, format_size};
use crate::config::{Config, SensorSource, SimPattern};

/// Validates `path` and the files it names; prints a summary (exit 0) or
/// every error (exit 2).
pub fn check_config(path: &Path) -> ExitCode {
    match Config::load_with_files(path) {
        Ok(cfg) => {
            print!("{}", summary(&cfg));
            ExitCode::SUCCESS
        }
        Err(e) => {
            super::report_load_error(path, &e);
            ExitCode::from(2)
        }
    }
}

fn source(s: &SensorSource) -> String {
    match s {
        SensorSource::W1 { device } => format!("w1 {device}"),
        SensorSource::Hwmon { chip, input } => format!("hwmon {chip}/{input}"),
        SensorSource::Thermal { zone } => format!("thermal {zone}"),
        SensorSource::I2c { bus, chip, address } => {
            format!("i2c {chip}@0x{address:02x} on {}", bus.display())
        }
        SensorSource::Mqtt { topic, format, .. } => format!("mqtt {topic} ({format})"),
        SensorSource::Sim(p) => match p {
            SimPattern::Constant(v) => format!("sim constant {v}"),
            SimPattern::Sine { min, max, period } => {
                format!("sim sine {min}..{max} every {}", format_duration(*period))
            }
            SimPattern::Step { from, to, at } => {
                format!("sim step {from} -> {to} at {}", format_duration(*at))
            }
            SimPattern::Points { points, cycle } => format!(
                "sim {} points{}",
                points.len(),
                cycle
                    .map(|c| format!(", every {}", format_duration(c)))
                    .unwrap_or_default()
            ),
        },
    }
}

/// A human summary of a valid config.
pub fn summary(cfg: &Config) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}: valid", cfg.path.display());
    let a = &cfg.agent;
    let _ = writeln!(
        s,
        "gateway  {}{}",
        a.gateway_id,
        a.site
            .as_ref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "store    {} (retention {}, max {}, readings flushed every {})",
        a.data_dir.display(),
        format_duration(cfg.buffer.retention),
        format_size(cfg.buffer.max_disk),
        format_duration(cfg.buffer.flush_interval)
    );
    match &cfg.relay {
        Some(r) => {
            let _ = writeln!(
                s,
                "relay    {} (heartbeat {}){}",
                r.url,
                format_duration(r.heartbeat),
                r.ca_file
                    .as_ref()
                    .map(|c| format!(", CA {}", c.display()))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(s, "relay    none: alert events go to the log only");
        }
    }
    if let Some(m) = &cfg.mqtt {
        let _ = writeln!(s, "mqtt     {} as {}", m.url, m.client_id);
    }
    let _ = writeln!(s, "sensors  {}", cfg.sensors.len());
    for x in &cfg.sensors {
        let when = match x.source {
            SensorSource::Mqtt { .. } => "as published".to_string(),
            _ => format!("every {}", format_duration(x.interval)),
        };
        let _ = writeln!(s, "  {:<20} {:<32} {when}", x.id, source(&x.source));
    }
    let _ = writeln!(s, "rules    {}", cfg.rules.len());
    for r in &cfg.rules {
        let mut cond = Vec::new();
        if let Some(v) = r.above {
            cond.push(format!("above {v}"));
        }
        if let Some(v) = r.below {
            cond.push(format!("below {v}"));
        }
        if r.hysteresis > 0.0 {
            cond.push(format!("±{} hysteresis", r.hysteresis));
        }
        if !r.for_.is_zero() {
            cond.push(format!("for {}", format_duration(r.for_)));
        }
        if let Some(st) = r.stale {
            cond.push(format!("stale after {}", format_duration(st)));
        }
        if let Some(rp) = r.repeat {
            cond.push(format!("repeat every {}", format_duration(rp)));
        }
        let mut covered: Vec<&str> = cfg
            .sensors
            .iter()
            .filter(|x| r.covers(&x.id))
            .map(|x| x.id.as_str())
            .collect();
        if cfg.sensors.iter().any(|x| x.is_template()) {
            covered.push("(and matching ids from MQTT topics)");
        }
        let _ = writeln!(
            s,
            "  {:<20} {} [{}] -> {}",
            r.id,
            cond.join(", "),
            r.severity.as_str(),
            covered.join(", ")
        );
    }
    s
}
