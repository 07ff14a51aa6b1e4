//! The store a behaviour test runs on: sled in the test's directory, or,
//! with `EDGETHERM_TEST_STORE=postgres`, a PostgreSQL cluster of its own
//! (CI runs the behaviour tests both ways: one interface, same behaviour).

use std::ops::Deref;
use std::path::Path;
use std::time::Duration;

use edgetherm_relay::config::{BackendKind, Interval, StoreConfig, TlsMode};
use edgetherm_relay::store::Store;

use super::postgres::Postgres;

/// A store, and the database behind it when there is one (stopped on drop).
pub struct TestStore {
    store: Store,
    _pg: Option<Postgres>,
}

impl Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

impl TestStore {
    /// The same store opened afresh, as a restarted relay opens it (sled:
    /// closed and reopened; PostgreSQL: a new connection pool).
    pub fn reopen(self, dir: &Path) -> TestStore {
        let TestStore { store, _pg: pg } = self;
        drop(store);
        let store = match &pg {
            None => Store::open(dir).unwrap(),
            Some(pg) => Store::from_config(&config(pg), dir).unwrap(),
        };
        TestStore { store, _pg: pg }
    }
}

/// True when `EDGETHERM_TEST_STORE=postgres`.
pub fn postgres_wanted() -> bool {
    std::env::var("EDGETHERM_TEST_STORE").as_deref() == Ok("postgres")
}

/// The `[store]` section for a cluster.
pub fn config(pg: &Postgres) -> StoreConfig {
    StoreConfig {
        backend: BackendKind::Postgres,
        url: Some(pg.url()),
        tls: Some(TlsMode::Disable),
        timeout: Some(Interval(Some(Duration::from_secs(5)))),
        ..StoreConfig::default()
    }
}

/// A fresh store for a test using `dir`.
pub fn open(dir: &Path) -> TestStore {
    if !postgres_wanted() {
        return TestStore {
            store: Store::open(dir).unwrap(),
            _pg: None,
        };
    }
    let pg = Postgres::start("EDGETHERM_TEST_STORE=postgres")
        .expect("EDGETHERM_TEST_STORE=postgres but PostgreSQL is not installed");
    TestStore {
        store: Store::from_config(&config(&pg), dir).unwrap(),
        _pg: Some(pg),
    }
}
