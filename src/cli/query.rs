//! `status`, `history` and `test-alert`: questions for the running agent.

use std::process::ExitCode;
use std::time::Duration;

use crate::config::units::parse_duration;
use crate::config::Config;
use crate::control::{self, AskError, HistoryRow, Reply, Request, StatusReport};
use crate::reading::Wall;
use crate::store::{Store, StoreOptions};

use super::trend;

const TIMEOUT: Duration = Duration::from_secs(10);

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("edgetherm: {msg}");
    ExitCode::FAILURE
}

/// `edgetherm status`.
pub fn status(cfg: &Config, json: bool) -> ExitCode {
    match control::ask(&cfg.agent.data_dir, &Request::Status, TIMEOUT) {
        Ok(Reply::Status(s)) if json => {
            println!("{}", serde_json::to_string_pretty(&s).expect("serialises"));
            ExitCode::SUCCESS
        }
        Ok(Reply::Status(s)) => {
            print!("{}", render_status(&s));
            ExitCode::SUCCESS
        }
        Ok(Reply::Error { message }) => fail(message),
        Ok(other) => fail(format!("unexpected answer: {other:?}")),
        Err(e) => fail(e),
    }
}

fn age(s: Option<u64>) -> String {
    s.map_or_else(|| "-".into(), |a| format!("{a}s ago"))
}

/// The status table.
pub fn render_status(s: &StatusReport) -> String {
    let mut out = format!(
        "gateway {}{} — edgetherm {} up {}s, clock {}\n",
        s.gateway,
        s.site
            .as_ref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default(),
        s.version,
        s.uptime_s,
        if s.clock_synced {
            "synced"
        } else {
            "NOT synced (stamps estimated)"
        }
    );
    // Older agents send no last hour: no empty column then.
    let spark = s.sensors.iter().any(|x| !x.last_hour.is_empty());
    let head = if spark {
        format!("{:<w$}  ", "LAST HOUR", w = trend::STATUS_WIDTH)
    } else {
        String::new()
    };
    out += &format!(
        "\n{:<22} {:<8} {:>10} {:>10}  {head}{}\n",
        "SENSOR", "KIND", "VALUE", "AGE", "NOTE"
    );
    for x in &s.sensors {
        let value = x.value.map_or_else(|| "-".into(), |v| format!("{v:.2} °C"));
        let note = x
            .note
            .clone()
            .or_else(|| x.fault.as_ref().map(|f| format!("fault: {f}")))
            .unwrap_or_default();
        let line = format!(
            "{:<22} {:<8} {:>10} {:>10}  {}{}",
            x.id,
            x.kind,
            value,
            age(x.age_s),
            if spark {
                trend::status_cell(&x.last_hour) + "  "
            } else {
                String::new()
            },
            note
        );
        out += line.trim_end();
        out.push('\n');
    }
    out += &format!(
        "\n{:<22} {:<22} {:<14} {}\n",
        "RULE", "SENSOR", "STATE", "SINCE"
    );
    for a in &s.alerts {
        out += &format!(
            "{:<22} {:<22} {:<14} {}\n",
            a.rule,
            a.sensor,
            a.state,
            a.since.as_deref().unwrap_or("")
        );
    }
    if let Some(m) = &s.mqtt {
        out += &format!(
            "\nmqtt {} {} since {}; {} message(s), {} dropped, {} retained ignored{}\n",
            m.broker,
            if m.connected {
                "connected"
            } else {
                "DISCONNECTED"
            },
            m.since.as_deref().unwrap_or("start"),
            m.messages,
            m.dropped,
            m.retained_ignored,
            m.last_error
                .as_ref()
                .filter(|_| !m.connected)
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        );
    }
    if let Some(r) = &s.relay {
        out += &format!(
            "\nrelay {} {}; last accepted {}; {} event(s) in {} batch(es) since start{}\n",
            r.url,
            if r.state == "ok" {
                "ok".to_string()
            } else {
                r.state.to_uppercase()
            },
            r.last_ok.as_deref().unwrap_or("never"),
            r.delivered,
            r.batches,
            r.last_error
                .as_ref()
                .filter(|_| r.state != "ok")
                .map(|e| format!("; {} failure(s), last: {e}", r.failures))
                .unwrap_or_default()
        );
    }
    out += &format!(
        "\noutbox {} event(s); delivery: {}\nstore {} ({} bytes); dropped: {} expired, {} for space; store errors: {}\n",
        s.outbox, s.delivery, s.store_path, s.store_bytes, s.dropped_expired, s.dropped_for_space, s.store_errors
    );
    if s.events_held > 0 || s.readings_dropped > 0 || s.damaged_blocks > 0 {
        out += &format!(
            "STORE TROUBLE: {} alert event(s) held in memory (the store refuses writes: see the log); {} reading(s) dropped from memory; {} damaged reading block(s) skipped\n",
            s.events_held, s.readings_dropped, s.damaged_blocks
        );
    }
    out
}

/// How `history` shows the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// A summary line with a sparkline, then one line a reading.
    Rows,
    /// The summary and a chart, no rows.
    Plot,
    /// One JSON object a reading, nothing else.
    Json,
}

/// `edgetherm history SENSOR --since D`.
pub fn history(cfg: &Config, sensor: &str, since: &str, limit: usize, show: Show) -> ExitCode {
    let Some(back) = parse_duration(since) else {
        return fail(format!(
            "--since {since:?}: expected a duration like \"30m\", \"1h\" or \"7d\""
        ));
    };
    if cfg.sensor(sensor).is_none() {
        let ids: Vec<&str> = cfg.sensors.iter().map(|s| s.id.as_str()).collect();
        eprintln!("edgetherm: note: {sensor:?} is not a sensor in {} (sensors: {}); showing stored readings anyway", cfg.path.display(), ids.join(", "));
    }
    let since_ms = Wall::system_now().ms - back.as_millis() as i64;
    let req = Request::History {
        sensor: sensor.to_string(),
        since_ms,
        limit,
    };
    let rows = match control::ask(&cfg.agent.data_dir, &req, TIMEOUT) {
        Ok(Reply::History { rows }) => rows,
        Ok(Reply::Error { message }) => return fail(message),
        Ok(other) => return fail(format!("unexpected answer: {other:?}")),
        Err(AskError::NotRunning { .. }) => {
            match Store::open_existing(&cfg.agent.data_dir, &StoreOptions::default()) {
                Ok(store) => match store.readings_since(sensor, since_ms, limit) {
                    Ok(r) => r.iter().map(HistoryRow::from_stored).collect(),
                    Err(e) => return fail(e),
                },
                Err(e) => return fail(e),
            }
        }
        Err(e) => return fail(e),
    };
    if rows.is_empty() {
        if show != Show::Json {
            eprintln!("no readings of {sensor:?} in the last {since}");
        }
        return ExitCode::SUCCESS;
    }
    if show != Show::Json {
        let points: Vec<(Option<i64>, Option<f64>)> = rows.iter().map(trend::point).collect();
        let values: Vec<Option<f64>> = points.iter().map(|p| p.1).collect();
        let width = trend::terminal_width();
        let cut = rows.len() >= limit;
        let spark = (show == Show::Rows).then_some(width);
        println!(
            "{}",
            trend::summary_line(sensor, &values, since, cut, spark)
        );
        if show == Show::Plot {
            let timed: Vec<(i64, Option<f64>)> = points
                .iter()
                .filter_map(|&(ms, v)| Some((ms?, v)))
                .collect();
            print!("{}", trend::plot(&timed, width, trend::PLOT_HEIGHT));
            return ExitCode::SUCCESS;
        }
    }
    for r in &rows {
        if show == Show::Json {
            println!("{}", serde_json::to_string(r).expect("serialises"));
        } else {
            let what = match (&r.value, &r.fault) {
                (Some(v), _) => format!("{v:.3} °C"),
                (None, Some(f)) => format!("fault: {f}"),
                _ => "-".into(),
            };
            println!(
                "{}{}  {}",
                r.at,
                if r.unsynced { " (estimated)" } else { "" },
                what
            );
        }
    }
    ExitCode::SUCCESS
}

/// `edgetherm test-alert`.
pub fn test_alert(cfg: &Config) -> ExitCode {
    let wait = crate::control::TEST_WAIT + TIMEOUT;
    match control::ask(&cfg.agent.data_dir, &Request::TestAlert, wait) {
        Ok(Reply::TestAlert { id, delivered_to }) => {
            println!("test alert {id} sent: delivered to {delivered_to}");
            ExitCode::SUCCESS
        }
        Ok(Reply::Error { message }) => {
            fail(format!("the test alert did not get through: {message}"))
        }
        Ok(other) => fail(format!("unexpected answer: {other:?}")),
        Err(e) => fail(format!("the test alert stopped before the agent: {e}")),
    }
}
