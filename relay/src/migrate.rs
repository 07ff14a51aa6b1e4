//! `edgetherm-relay migrate --from-sled DIR`: copies a sled store into the
//! PostgreSQL database `[store]` names. Idempotent: rows keep their keys
//! and rows already there stay, so a second run copies nothing.

use std::path::{Path, PathBuf};

use crate::config::{BackendKind, Config};
use crate::store::{Counts, PgBackend, SledBackend, Snapshot};

/// What a run found and copied.
#[derive(Debug, Clone)]
pub struct Report {
    /// The sled store read.
    pub from: PathBuf,
    /// How many of each the sled store holds.
    pub found: Counts,
    /// How many of each were new in the database.
    pub copied: Counts,
}

/// The sled store in `dir`: a relay's `data_dir` (holding `store/`) or the
/// store directory itself.
fn sled_dir(dir: &Path) -> Result<PathBuf, String> {
    for candidate in [dir.join("store"), dir.to_path_buf()] {
        if candidate.join("conf").is_file() && candidate.join("db").is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "no sled store in {}: expected the old relay's data_dir (holding store/) or its store directory",
        dir.display()
    ))
}

fn counts(s: &Snapshot) -> Counts {
    Counts {
        gateways: s.gateways.len(),
        events: s.events.len(),
        pending: s.pending.len(),
        heartbeats: s.heartbeats.len(),
        conversations: s.conversations.len(),
        records: s.records.len(),
        jobs: s.jobs.len(),
        deliveries: s.deliveries.len(),
        open: s.open.len(),
    }
}

/// Copies the sled store in `dir` into `cfg`'s PostgreSQL database.
pub fn from_sled(cfg: &Config, dir: &Path) -> Result<Report, String> {
    if cfg.store.backend != BackendKind::Postgres {
        return Err(
            "migrate copies a sled store into PostgreSQL: set [store] backend = \"postgres\" \
             and url in the config first"
                .into(),
        );
    }
    let from = sled_dir(dir)?;
    let sled = SledBackend::open(&from).map_err(|e| {
        format!("{e} (a relay still running on this store holds it: stop it first)")
    })?;
    let snapshot = sled.export().map_err(|e| e.to_string())?;
    drop(sled);
    let pg = PgBackend::open(&cfg.store).map_err(|e| e.to_string())?;
    let copied = pg.import(&snapshot).map_err(|e| e.to_string())?;
    Ok(Report {
        from,
        found: counts(&snapshot),
        copied,
    })
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "copied from {} (new / in the sled store):",
            self.from.display()
        )?;
        let rows = [
            ("gateways", self.copied.gateways, self.found.gateways),
            (
                "conversation references",
                self.copied.conversations,
                self.found.conversations,
            ),
            ("accepted event ids", self.copied.events, self.found.events),
            (
                "events waiting to be routed",
                self.copied.pending,
                self.found.pending,
            ),
            ("send jobs", self.copied.jobs, self.found.jobs),
            (
                "delivered cards",
                self.copied.deliveries,
                self.found.deliveries,
            ),
            ("open alerts", self.copied.open, self.found.open),
            ("heartbeats", self.copied.heartbeats, self.found.heartbeats),
            (
                "records (installs, liveness)",
                self.copied.records,
                self.found.records,
            ),
        ];
        for (what, new, found) in rows {
            writeln!(f, "  {what:<30} {new:>8} / {found}")?;
        }
        Ok(())
    }
}
