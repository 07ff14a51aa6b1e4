//! `[store]`: where the relay keeps its state. sled (the default) needs
//! nothing; PostgreSQL lets several relays share one database.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Interval;

/// How long a fleet lease lasts when `[store] lease_timeout` says nothing.
pub const DEFAULT_LEASE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an accepted event id is remembered when `[store]
/// remember_events` says nothing. The agent resends an event only until it
/// gets the relay's answer, so a retry comes seconds after the accept, or
/// after the gateway's next contact: a month covers a gateway cut off right
/// after an accept for weeks.
pub const DEFAULT_REMEMBER_EVENTS: Duration = Duration::from_secs(30 * 86_400);

/// The shortest `remember_events`: an outage of a day or more is common.
const MIN_REMEMBER_EVENTS: Duration = Duration::from_secs(86_400);

/// Which backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Embedded, in `[server] data_dir`; one relay process.
    #[default]
    Sled,
    /// A PostgreSQL database shared by every relay of the fleet.
    Postgres,
}

/// TLS to PostgreSQL (like libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain TCP (loopback or a private network only).
    Disable,
    /// Encrypted; the server's certificate is not checked.
    Require,
    /// Encrypted; the certificate must chain to `ca_file` (or the system's
    /// roots) and name the host in `url`.
    VerifyFull,
}

/// `[store]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `backend = "sled" | "postgres"`.
    #[serde(default)]
    pub backend: BackendKind,
    /// `postgres://user@host:port/db` (PostgreSQL only).
    pub url: Option<String>,
    /// A file holding the database password (PostgreSQL only).
    pub password_file: Option<PathBuf>,
    /// TLS; unset: `disable` for a loopback host, `verify-full` otherwise.
    pub tls: Option<TlsMode>,
    /// CA certificates (PEM) for `verify-full`; default: the system's.
    pub ca_file: Option<PathBuf>,
    /// Most connections this relay opens (default 8).
    pub pool_size: Option<usize>,
    /// How long one database call may take before the request gets 503 (default 10 s).
    pub timeout: Option<Interval>,
    /// How long an instance's fleet leases last without renewal: the
    /// takeover time when a relay dies (default 30 s).
    pub lease_timeout: Option<Interval>,
    /// How long an accepted event id is remembered, so that a resent event
    /// is not posted twice (default 30 days; "off": for ever).
    pub remember_events: Option<Interval>,
}

impl StoreConfig {
    /// Most connections.
    pub fn pool_size(&self) -> usize {
        self.pool_size.unwrap_or(8)
    }

    /// The per-call limit.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .and_then(|i| i.0)
            .unwrap_or(Duration::from_secs(10))
    }

    /// The lease length.
    pub fn lease_timeout(&self) -> Duration {
        self.lease_timeout
            .and_then(|i| i.0)
            .unwrap_or(DEFAULT_LEASE_TIMEOUT)
    }

    /// How long event ids are kept; `None`: for ever.
    pub fn remember_events(&self) -> Option<Duration> {
        self.remember_events
            .map_or(Some(DEFAULT_REMEMBER_EVENTS), |i| i.0)
    }

    /// What is wrong with the section, as (key, message).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let postgres = self.backend == BackendKind::Postgres;
        match (&self.url, postgres) {
            (None, true) => {
                return Err((
                    "backend",
                    "[store] backend = \"postgres\" needs url = \"postgres://user@host/db\"".into(),
                ))
            }
            (Some(_), false) => {
                return Err((
                    "url",
                    "[store] url is only used with backend = \"postgres\" (sled keeps its store in [server] data_dir)".into(),
                ))
            }
            (Some(u), true) if !u.starts_with("postgres://") && !u.starts_with("postgresql://") => {
                return Err((
                    "url",
                    "[store] url must start with postgres:// (e.g. \"postgres://edgetherm@db.example.com/edgetherm\")".into(),
                ))
            }
            (Some(u), true) if has_password(u) => {
                return Err((
                    "url",
                    "[store] url must not carry the password (it ends up in logs and `ps`): put it in password_file".into(),
                ))
            }
            _ => {}
        }
        if !postgres {
            for (key, set) in [
                ("password_file", self.password_file.is_some()),
                ("tls", self.tls.is_some()),
                ("ca_file", self.ca_file.is_some()),
                ("pool_size", self.pool_size.is_some()),
            ] {
                if set {
                    return Err((
                        key,
                        format!("[store] {key} is only used with backend = \"postgres\""),
                    ));
                }
            }
        }
        if self.pool_size == Some(0) {
            return Err(("pool_size", "[store] pool_size must be at least 1".into()));
        }
        if self.ca_file.is_some() && self.tls != Some(TlsMode::VerifyFull) {
            return Err((
                "ca_file",
                "[store] ca_file is used only with tls = \"verify-full\"".into(),
            ));
        }
        for (key, v) in [
            ("timeout", &self.timeout),
            ("lease_timeout", &self.lease_timeout),
        ] {
            if v.is_some_and(|i| i.0.is_none_or(|d| d.is_zero())) {
                return Err((
                    key,
                    format!("[store] {key} must be a duration longer than 0 s, like \"30s\""),
                ));
            }
        }
        if let Some(Interval(Some(d))) = self.remember_events {
            if d < MIN_REMEMBER_EVENTS {
                return Err((
                    "remember_events",
                    "[store] remember_events must be at least \"1d\" (an event resent after its id is forgotten is posted again), or \"off\" to keep every id".into(),
                ));
            }
        }
        Ok(())
    }
}

/// True when `url` carries a password (`postgres://user:secret@host`).
fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split_once('@')
        .is_some_and(|(who, _)| who.contains(':'))
}
