//! One task per polled sensor: each on its own interval, each read on a
//! blocking thread, so a slow or hung sensor never delays another.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::reading::{Fault, MonoClock, RawBatch, RawReading as Raw, Wall};
use crate::sources::Probe;

/// How long one read may take before it counts as a timeout fault.
fn read_timeout(interval: Duration) -> Duration {
    interval.clamp(Duration::from_secs(2), Duration::from_secs(30))
}

/// Polls `probe` every `interval` until the receiver goes away.
pub async fn poll(
    sensor: String,
    interval: Duration,
    mut probe: Box<dyn Probe>,
    mono: MonoClock,
    tx: mpsc::Sender<RawBatch>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = mono.now();
        let system_ms = Wall::system_now().ms;
        let mut job = tokio::task::spawn_blocking(move || {
            let value = probe.read(now);
            (probe, value)
        });
        let value = match tokio::time::timeout(read_timeout(interval), &mut job).await {
            Ok(Ok((p, value))) => {
                probe = p;
                value
            }
            Ok(Err(panicked)) => {
                tracing::error!(sensor = %sensor, error = %panicked, "sensor read panicked; this sensor is no longer polled (a bug: please report it)");
                let _ = tx
                    .send(vec![Raw {
                        sensor,
                        mono: now,
                        system_ms,
                        value: Err(Fault::Io("the sensor driver crashed".into())),
                    }])
                    .await;
                return;
            }
            Err(_) => {
                // Report the timeout now; the hung read still owns the probe,
                // so wait for it before the next one (never two reads at once).
                let raw = Raw {
                    sensor: sensor.clone(),
                    mono: now,
                    system_ms,
                    value: Err(Fault::Timeout),
                };
                if tx.send(vec![raw]).await.is_err() {
                    return;
                }
                match job.await {
                    Ok((p, _late)) => {
                        probe = p;
                        continue;
                    }
                    Err(_) => return,
                }
            }
        };
        if tx
            .send(vec![Raw {
                sensor: sensor.clone(),
                mono: now,
                system_ms,
                value,
            }])
            .await
            .is_err()
        {
            return;
        }
    }
}
