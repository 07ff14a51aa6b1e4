//! Cards that could never resolve: a gateway whose store was lost or
//! replaced forgets its open alerts, so their resolves never come. The
//! heartbeat lists the episodes the gateway has open (`heartbeat.open`,
//! docs/wire.md); an episode the relay holds open that two heartbeats in a
//! row have not listed is closed here, its card updated in place with one
//! sentence saying why.

use edgetherm_proto::{Event, EventKind};

use crate::liveness::SILENT_RULE;
use crate::store::{LastBeat, Queued};

/// Ids of the closing events this module makes: the colon keeps them apart
/// from the agent's ULIDs, and one id per episode makes a second attempt a
/// duplicate the store drops.
pub const CLOSE_ID_PREFIX: &str = "edgetherm:closed:";

/// What the closed card says.
pub const CLOSE_REASON: &str = "Closed by the relay: the gateway no longer reports this alert as open (its store was lost or replaced), so no resolve will come. If the condition still holds, the gateway raises a new alert.";

/// Whether `e` is a closing event made here.
pub fn is_close(e: &Event) -> bool {
    e.kind == EventKind::Resolved && e.id.starts_with(CLOSE_ID_PREFIX)
}

/// The closing events for the episodes in `open` whose gateway has left
/// them out of its last two heartbeats. `beat_of` gives a gateway's latest
/// beat; `now` stamps the closes.
pub fn closes(
    open: &[Queued],
    beat_of: impl Fn(&str) -> Option<LastBeat>,
    now: &str,
) -> Vec<(Queued, Event)> {
    let mut out = Vec::new();
    for q in open {
        let Some(episode) = q.event.alert.as_deref() else {
            continue;
        };
        // The liveness watch opens and closes its own alerts.
        if q.event.rule.as_deref() == Some(SILENT_RULE) {
            continue;
        }
        let Some(beat) = beat_of(&q.gateway) else {
            continue;
        };
        let left_out = |listed: &Option<Vec<String>>| {
            listed
                .as_ref()
                .is_some_and(|l| !l.iter().any(|id| id == episode))
        };
        if !(left_out(&beat.listed) && left_out(&beat.listed_before)) {
            continue;
        }
        let first = &q.event;
        let mut e = Event::new(
            format!("{CLOSE_ID_PREFIX}{episode}"),
            EventKind::Resolved,
            first.severity,
            now.to_string(),
        );
        e.alert = Some(episode.to_string());
        e.rule = first.rule.clone();
        e.sensor = first.sensor.clone();
        e.sensor_name = first.sensor_name.clone();
        e.threshold = first.threshold;
        e.direction = first.direction;
        e.since = Some(first.since.clone().unwrap_or_else(|| first.at.clone()));
        e.detail = Some(CLOSE_REASON.into());
        out.push((q.clone(), e));
    }
    out
}
