//! Versioned schema migrations, applied at start in one transaction under
//! an advisory lock (relays starting together apply each once). A
//! database with a newer schema than this relay knows is refused: an old
//! relay must not write into tables it does not understand.
//!
//! Hand-written rather than a migration crate: refinery needs Rust 1.92
//! and sqlx's migrator would bring a second driver; this is one table and
//! a loop.

use super::{Fail, PgBackend};
use crate::store::StoreError;

/// (version, SQL), oldest first.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../../migrations/0001_init.sql")),
    (
        2,
        include_str!("../../../migrations/0002_events_received_at.sql"),
    ),
];

/// The newest schema version this relay knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Any constant both this and other relays use for the migration lock.
const LOCK: i64 = 0x6564_6765_7468_6572; // "edgether"

impl PgBackend {
    /// Applies the migrations this database lacks.
    pub(super) fn migrate(&self) -> Result<(), StoreError> {
        let found = self.run(|mut c| async move {
            let tx = c.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
                .await?;
            // Checked first: IF NOT EXISTS would log a NOTICE at every start.
            let known = tx
                .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
                .await?;
            if !known.get::<_, bool>(0) {
                tx.batch_execute(
                    "CREATE TABLE schema_migrations (
                         version    integer PRIMARY KEY,
                         applied_at timestamptz NOT NULL DEFAULT now()
                     )",
                )
                .await?;
            }
            let row = tx
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM schema_migrations",
                    &[],
                )
                .await?;
            let found: i32 = row.get(0);
            if found > SCHEMA_VERSION {
                return Ok(found);
            }
            for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
                tx.batch_execute(sql).await?;
                tx.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[version],
                )
                .await?;
                tracing::info!(version, "applied a relay store schema migration");
            }
            tx.commit().await?;
            Ok::<_, Fail>(found)
        })?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                place: self.place.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        Ok(())
    }
}
