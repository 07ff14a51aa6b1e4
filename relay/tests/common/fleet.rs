//! Several relays on one store, judged from what the fake Teams received in
//! several conversations at once: every alert's card and its update in
//! place, messages sent twice (each must have had a kill land while it was
//! in flight), Teams' per-conversation limits (on Teams' clock and on the
//! relays' own stamps), hand-overs between relay incarnations, and how long
//! a kill left a conversation with queued work without a sender. Also the
//! gateway's side: posting through a load balancer (`post_anywhere`).
//!
//! A call's alert is read from its `[evt:<id>]` marker rather than by
//! searching for every alert's marker (`teams_verdict::classify`), so that
//! hundreds of alerts in several conversations stay cheap to judge.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::events::{firing_id, resolved_id, Batch};
use super::fake_teams::Call;
use super::http::http_with;
pub use super::teams_verdict::What;

/// Teams' per-conversation limits: (sliding window, most messages in it).
/// The hour's 1800 cannot be reached by a test of a few minutes.
pub const TEAMS_LIMITS: [(Duration, usize); 3] = [
    (Duration::from_secs(1), 7),
    (Duration::from_secs(2), 8),
    (Duration::from_secs(30), 60),
];

/// What `c` was: the welcome, alert k's card (a POST) or its resolved state.
pub fn what(c: &Call) -> Option<What> {
    if c.method == "POST"
        && c.body["text"]
            .as_str()
            .is_some_and(|t| t.contains("I'm **edgetherm**"))
    {
        return Some(What::Welcome);
    }
    let text = c.body.to_string();
    let mut ids: Vec<&str> = text
        .split("[evt:")
        .skip(1)
        .filter_map(|s| s.split_once(']').map(|(id, _)| id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let [id] = ids.as_slice() else {
        return None;
    };
    let digits = id.len() - id.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let k: usize = id[id.len() - digits..].parse().ok()?;
    if *id == firing_id(k) && c.method == "POST" {
        Some(What::Card(k))
    } else if *id == resolved_id(k) {
        Some(What::Resolved(k))
    } else {
        None
    }
}

/// Milliseconds from `t0` (negative before it), for messages.
pub fn ms(t0: Instant, t: Instant) -> i64 {
    match t.checked_duration_since(t0) {
        Some(d) => d.as_millis() as i64,
        None => -(t0.duration_since(t).as_millis() as i64),
    }
}

/// Every conversation has its welcome, every alert's card, and that card
/// updated in place with the resolved state.
pub fn everything(calls: &[Call], conversations: &[&str], alerts: usize) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    for c in calls {
        if let (Some(conv), Some(w)) = (&c.conversation, what(c)) {
            if c.method == "PUT" || !matches!(w, What::Resolved(_)) {
                seen.insert((conv.clone(), w));
            }
        }
    }
    conversations.iter().all(|conv| {
        let has = |w: What| seen.contains(&(conv.to_string(), w));
        has(What::Welcome) && (0..alerts).all(|k| has(What::Card(k)) && has(What::Resolved(k)))
    })
}

/// Checks the calls against `conversations` and alerts `0..alerts`:
/// (problems, duplicates). A message sent again is a duplicate; it is a
/// problem unless a kill (of `kills`) fell while its previous send was in
/// flight: from its arrival until `grace` after Teams answered it (the
/// answer's way back and the job's removal, the window `sender.rs`
/// documents), or until `grace` after its arrival when the sender hung up
/// before the answer.
pub fn judge(
    calls: &[Call],
    conversations: &[&str],
    alerts: usize,
    kills: &[Instant],
    grace: Duration,
) -> (Vec<String>, Vec<String>) {
    let t0 = calls.first().map_or_else(Instant::now, |c| c.arrived);
    let id = |c: &Call| c.activity_id.clone().unwrap_or_else(|| "-".into());
    let mut problems = Vec::new();
    let mut duplicates = Vec::new();
    let mut by: BTreeMap<(String, What), Vec<&Call>> = BTreeMap::new();
    for c in calls {
        match (&c.conversation, what(c)) {
            (Some(conv), Some(w)) if conversations.contains(&conv.as_str()) => {
                by.entry((conv.clone(), w)).or_default().push(c)
            }
            _ => problems.push(format!(
                "unexpected call to Teams: {} {} {}",
                c.method, c.raw_path, c.body
            )),
        }
    }
    for conv in conversations {
        let get = |w: What| by.get(&(conv.to_string(), w)).cloned().unwrap_or_default();
        if get(What::Welcome).is_empty() {
            problems.push(format!("{conv}: no welcome was sent"));
        }
        for k in 0..alerts {
            let cards: Vec<String> = get(What::Card(k)).iter().map(|c| id(c)).collect();
            let ends = get(What::Resolved(k));
            if cards.is_empty() {
                problems.push(format!("{conv}: alert {k} LOST: no card was posted"));
            }
            if ends.is_empty() {
                problems.push(format!(
                    "{conv}: alert {k}: resolve LOST: its card {cards:?} was never updated"
                ));
            }
            for e in ends {
                if e.method != "PUT" || !cards.contains(&id(e)) {
                    problems.push(format!(
                        "{conv}: alert {k}: resolved state sent as {} {}, not in place on its card {cards:?}",
                        e.method,
                        id(e)
                    ));
                }
            }
        }
    }
    for ((conv, w), sent) in &by {
        for pair in sent.windows(2) {
            let (first, again) = (pair[0], pair[1]);
            let until = first.answered.unwrap_or(first.arrived) + grace;
            let cause = kills
                .iter()
                .find(|&&t| t >= first.arrived && t <= until && t <= again.arrived);
            let line = format!(
                "{conv} {w:?} sent again: {} {} at {}ms (answered {}), again at {}ms: {}",
                first.method,
                id(first),
                ms(t0, first.arrived),
                first
                    .answered
                    .map_or("never".into(), |t| format!("at {}ms", ms(t0, t))),
                ms(t0, again.arrived),
                cause.map_or("NO KILL while it was in flight".into(), |&t| {
                    format!("killed at {}ms", ms(t0, t))
                })
            );
            if cause.is_none() {
                problems.push(line.clone());
            }
            duplicates.push(line);
        }
    }
    (problems, duplicates)
}

/// Arrival times of the calls to `conversation`, in order.
pub fn arrivals(calls: &[Call], conversation: &str) -> Vec<Instant> {
    let mut t: Vec<Instant> = calls
        .iter()
        .filter(|c| c.conversation.as_deref() == Some(conversation))
        .map(|c| c.arrived)
        .collect();
    t.sort();
    t
}

/// For each of [`TEAMS_LIMITS`] (len, most): the shortest time `most + 1`
/// consecutive `times` (sorted) took; under `len` is over Teams' limit.
/// None when there were not that many.
pub fn tightest(times: &[Instant]) -> [Option<Duration>; 3] {
    TEAMS_LIMITS.map(|(_, most)| times.windows(most + 1).map(|w| w[most] - w[0]).min())
}

/// The relay's wall clock (`clock::now_ms`, which stamps its sends in the
/// store) beside the fake's `Instant`s.
pub struct WallClock {
    at: Instant,
    ms: i64,
}

impl WallClock {
    /// Now on both clocks.
    pub fn now() -> WallClock {
        WallClock {
            at: Instant::now(),
            ms: edgetherm_relay::clock::now_ms(),
        }
    }

    /// `t` in wall-clock milliseconds.
    pub fn ms(&self, t: Instant) -> i64 {
        self.ms + ms(self.at, t)
    }

    /// Wall-clock `ms` as an `Instant`.
    pub fn instant(&self, ms: i64) -> Instant {
        let d = Duration::from_millis(ms.abs_diff(self.ms));
        if ms >= self.ms {
            self.at + d
        } else {
            self.at - d
        }
    }
}

/// For each arrival (wall ms), how long after the latest of the relay's
/// stamps (sorted) at or before it. A relay stamps, then sends, one message
/// at a time, so that stamp is the message's own.
pub fn lags(arrivals: &[i64], stamps: &[i64]) -> Vec<Duration> {
    arrivals
        .iter()
        .filter_map(|&a| {
            let i = stamps.partition_point(|&s| s <= a).checked_sub(1)?;
            Some(Duration::from_millis((a - stamps[i]) as u64))
        })
        .collect()
}

/// How long after `at` Teams' limits kept one more message to a
/// conversation waiting, given its earlier arrivals `before` (sorted).
pub fn limit_wait(before: &[Instant], at: Instant) -> Duration {
    TEAMS_LIMITS
        .iter()
        .filter(|(_, most)| before.len() >= *most)
        .map(|(len, most)| (before[before.len() - most] + *len).saturating_duration_since(at))
        .max()
        .unwrap_or(Duration::ZERO)
}

/// Teams' limits in `conversation`, judged on Teams' clock (`arrivals`)
/// with `slack`, and on the relays' own stamps (`stamps`, from the store's
/// `sends`) exactly but for their rounding to the millisecond: (report
/// line, problems).
pub fn limits(
    conversation: &str,
    arrivals: &[Instant],
    stamps: &[Instant],
    slack: Duration,
) -> (String, Vec<String>) {
    let (mut line, mut problems) = (format!("{conversation}:"), Vec::new());
    let spans = tightest(arrivals).into_iter().zip(tightest(stamps));
    for ((len, most), (teams, relay)) in TEAMS_LIMITS.into_iter().zip(spans) {
        let (Some(teams), Some(relay)) = (teams, relay) else {
            continue;
        };
        let (t, r) = (teams.as_secs_f64(), relay.as_secs_f64());
        line += &format!(" {} in {t:.3}s (relay: {r:.3}s)", most + 1);
        if teams < len {
            line += " OVER by Teams' clock";
        }
        if teams + slack < len || relay + Duration::from_millis(2) < len {
            problems.push(format!(
                "{conversation}: {} messages within {t:.3}s on Teams' clock ({slack:?} of slack), \
                 {r:.3}s on the relays' stamps; Teams allows {most} per {len:?}",
                most + 1
            ));
        }
    }
    (line, problems)
}

/// After a kill at `at` of the relay sending to a conversation (arrivals
/// `times`, sorted): (time until the next message, how long Teams' limits
/// alone held it back), None if nothing more came. Arrivals within 50 ms
/// of the kill are the dead relay's own, already on the wire.
pub fn takeover(times: &[Instant], at: Instant) -> Option<(Duration, Duration)> {
    let next = *times.get(times.partition_point(|&t| t <= at + Duration::from_millis(50)))?;
    let before = &times[..times.partition_point(|&t| t <= at)];
    Some((next - at, limit_wait(before, at)))
}

/// Per conversation, each hand-over between relay incarnations (told
/// apart by their bearer token: each incarnation fetches its own):
/// (last call of the one before, first call of the next).
pub fn handovers(calls: &[Call], conversation: &str) -> Vec<(Instant, Instant)> {
    let mut mine: Vec<&Call> = calls
        .iter()
        .filter(|c| c.conversation.as_deref() == Some(conversation))
        .collect();
    mine.sort_by_key(|c| c.arrived);
    mine.windows(2)
        .filter(|p| p[0].authorization != p[1].authorization)
        .map(|p| (p[0].arrived, p[1].arrived))
        .collect()
}

/// `d` in seconds, two decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// (min, median, max), or None for no figures.
pub fn spread(figures: &[Duration]) -> Option<(Duration, Duration, Duration)> {
    let mut f = figures.to_vec();
    f.sort();
    Some((*f.first()?, f[f.len() / 2], *f.last()?))
}

/// The instance id the current incarnation logged at start (the holder
/// name in the store's lease tables).
pub fn instance(log_text: &str) -> Option<String> {
    let current = log_text.rsplit("--- incarnation ").next()?;
    let at = current.find("instance=")? + "instance=".len();
    Some(current[at..].split_whitespace().next()?.to_string())
}

/// `s` as an SQL string literal.
pub fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// How the gateway's posts went.
#[derive(Debug, Default)]
pub struct Fed {
    /// Batches a relay took (200).
    pub posts: usize,
    /// Requests made.
    pub attempts: usize,
    /// Sent, and the relay died before answering.
    pub interrupted: usize,
    /// Connection refused: the relay was down.
    pub refused: usize,
}

/// The gateway's request on the wire, for a kill to aim at.
#[derive(Debug, Default)]
pub struct Wire {
    /// Up while a request is sent and unanswered.
    pub sent: AtomicBool,
    /// The index (in `ports`) of the relay it went to.
    pub to: AtomicUsize,
}

/// Posts a batch as a load balancer would: to relay `to`, and after any
/// failure to the next one, until a 200 accepts every event (at most 600
/// tries, 50 ms apart, or 60 s) → the index of the relay that took it.
pub fn post_anywhere(
    ports: &[u16],
    mut to: usize,
    token: &str,
    (body, ids): &Batch,
    stop: &AtomicBool,
    wire: &Wire,
    fed: &mut Fed,
) -> Result<usize, String> {
    let headers = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    for _ in 0..600 {
        if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
            break;
        }
        fed.attempts += 1;
        wire.to.store(to, Ordering::SeqCst);
        match http_with(
            ports[to],
            "POST",
            "/v1/events",
            &headers,
            body,
            Some(&wire.sent),
        ) {
            Ok((200, answer)) => {
                let a: edgetherm_proto::Accepted = serde_json::from_str(&answer)
                    .map_err(|e| format!("bad 200 body {answer:?}: {e}"))?;
                if &a.accepted != ids {
                    return Err(format!("accepted {:?}, sent {ids:?}", a.accepted));
                }
                fed.posts += 1;
                return Ok(to);
            }
            Ok((status, answer)) => last = format!("relay {to}: HTTP {status}: {answer}"),
            Err((sent, e)) => {
                fed.interrupted += usize::from(sent);
                fed.refused += usize::from(!sent);
                last = format!("relay {to}: {e}");
            }
        }
        to = (to + 1) % ports.len();
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no relay took a batch within 60 s; last: {last}"))
}
