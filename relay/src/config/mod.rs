//! `relay.toml`: the relay's one config file. Unknown keys are errors, with
//! file:line:column.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod bot;
mod store;

pub use bot::{Bot, Cloud};
pub use store::{BackendKind, StoreConfig, TlsMode, DEFAULT_LEASE_TIMEOUT};

/// The default config path.
pub const DEFAULT_PATH: &str = "/etc/edgetherm-relay/relay.toml";

/// Why the config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is invalid (location and what was expected in the message).
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`.
    pub server: Server,
    /// `[bot]`: the Teams bot; without it `/api/messages` is not served.
    #[serde(default)]
    pub bot: Option<Bot>,
    /// `[routing]`.
    #[serde(default)]
    pub routing: crate::routing::Routing,
    /// `[graph]`: proactive installation of the Teams app through Microsoft Graph.
    #[serde(default)]
    pub graph: Option<Graph>,
    /// `[gateways]`: the liveness watch.
    #[serde(default)]
    pub gateways: crate::liveness::LivenessConfig,
    /// `[store]`: sled (default) or PostgreSQL.
    #[serde(default)]
    pub store: StoreConfig,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The public https URL (for the Teams app package).
    #[serde(default)]
    pub public_url: Option<String>,
    /// The relay's sled store and admin socket.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Largest accepted request body.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Undelivered events above which new batches are answered 503 + Retry-After.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// With `tls_key_file`: serve HTTPS (rustls) instead of plain HTTP. PEM,
    /// the server's certificate first, then any intermediates. Set both or
    /// neither (plain HTTP, e.g. behind a reverse proxy that terminates TLS).
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key of `tls_cert_file` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Most connections held open at once (capped below the descriptor
    /// limit); one more is answered 503 with Retry-After and closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A connection that moves no byte for this long is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Interval,
    /// A request head (line and headers) must arrive within this long of
    /// the connection being ready for one, however slowly bytes trickle.
    #[serde(default = "default_header_timeout")]
    pub header_timeout: Interval,
}

/// `[graph]`: the users to reach before they ever open the bot. For each,
/// the relay checks the user's installed Teams apps through Microsoft Graph,
/// installs the app when it is missing and keeps the resulting conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Graph {
    /// The app's id in the organisation's app catalog (Teams admin center →
    /// Manage apps; or `GET /appCatalogs/teamsApps?$filter=externalId eq
    /// '{manifest id}'`). Not the manifest's `id` for org-catalog apps.
    pub teams_app_id: Guid,
    /// The manifest's `id` (default: `[bot] app_id`): a user who has the app
    /// under another catalog id (an older upload) is found by it.
    #[serde(default)]
    pub manifest_id: Option<Guid>,
    /// Azure AD (Entra ID) object ids of users.
    #[serde(default)]
    pub users: Vec<Guid>,
    /// Microsoft 365 groups (or teams, by their group id): every member who
    /// is a user is reached too.
    #[serde(default)]
    pub groups: Vec<Guid>,
    /// Requests per second to Graph.
    #[serde(default = "default_graph_rate")]
    pub rate: Rate,
    /// How long to wait for Teams' `conversationUpdate` after an install
    /// before looking the chat up (or creating it) instead.
    #[serde(default = "default_conversation_grace")]
    pub conversation_grace: Interval,
    /// How often the whole list is checked again (`"off"`: only at start).
    #[serde(default = "default_recheck")]
    pub recheck: Interval,
}

fn default_graph_rate() -> Rate {
    Rate(5.0)
}
fn default_conversation_grace() -> Interval {
    Interval(Some(Duration::from_secs(60)))
}
fn default_recheck() -> Interval {
    Interval(Some(Duration::from_secs(24 * 3600)))
}

/// A GUID as Entra ID and the Teams app catalog write them
/// (`8-4-4-4-12` hexadecimal digits), kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guid(String);

impl Guid {
    /// Checks and normalises `s`.
    pub fn parse(s: &str) -> Result<Guid, String> {
        let s = s.trim();
        let groups: Vec<&str> = s.split('-').collect();
        let ok = groups.len() == 5
            && groups
                .iter()
                .zip([8, 4, 4, 4, 12])
                .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
        if ok {
            Ok(Guid(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "expected a GUID like \"00000000-0000-0000-0000-000000000000\", found {s:?}"
            ))
        }
    }

    /// The GUID, lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Guid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Guid::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Requests per second: a positive number (`5`, `0.5`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("requests per second, a number between 0.01 and 1000")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Rate, E> {
                if (0.01..=1000.0).contains(&v) {
                    Ok(Rate(v))
                } else {
                    Err(E::custom(format!(
                        "expected requests per second between 0.01 and 1000, found {v}"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Rate, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Rate, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration like `"60s"` or `"24h"`, or `"off"` (None).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Option<Duration>);

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "off" {
            return Ok(Interval(None));
        }
        humantime::parse_duration(s.trim())
            .map(|v| Interval(Some(v)))
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "expected a duration like \"60s\" or \"24h\", or \"off\", found {s:?} ({e})"
                ))
            })
    }
}

fn default_listen() -> SocketAddr {
    "0.0.0.0:3978".parse().expect("valid")
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/edgetherm-relay")
}
fn default_max_body() -> usize {
    1 << 20
}
fn default_max_connections() -> usize {
    10_000
}
fn default_idle_timeout() -> Interval {
    Interval(Some(Duration::from_secs(60)))
}
fn default_header_timeout() -> Interval {
    Interval(Some(Duration::from_secs(30)))
}
fn default_max_pending() -> usize {
    100_000
}

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &src)
    }

    /// Validates config text; `path` is used in messages.
    pub fn parse(path: &Path, src: &str) -> Result<Config, ConfigError> {
        let invalid = |offset: usize, message: String| {
            let (line, column) = line_col(src, offset);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let cfg: Config = toml::from_str(src).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            invalid(offset, e.message().trim().to_string())
        })?;
        let (cert, key) = (&cfg.server.tls_cert_file, &cfg.server.tls_key_file);
        if cert.is_some() != key.is_some() {
            let (set, missing) = if cert.is_some() {
                ("tls_cert_file", "tls_key_file")
            } else {
                ("tls_key_file", "tls_cert_file")
            };
            return Err(invalid(
                server_value_offset(src, set),
                format!(
                    "[server] {set} is set but {missing} is missing: set both to serve \
                     HTTPS (certificate chain and its private key, PEM), or neither for \
                     plain HTTP"
                ),
            ));
        }
        if cfg.server.idle_timeout.0.is_none() {
            return Err(invalid(
                value_offset(src, "server", "idle_timeout"),
                "[server] idle_timeout cannot be \"off\": expected a duration like \"60s\"".into(),
            ));
        }
        if cfg.server.header_timeout.0.is_none() {
            return Err(invalid(
                value_offset(src, "server", "header_timeout"),
                "[server] header_timeout cannot be \"off\": expected a duration like \"30s\""
                    .into(),
            ));
        }
        if cfg.server.max_connections == 0 {
            return Err(invalid(
                value_offset(src, "server", "max_connections"),
                "[server] max_connections must be at least 1".into(),
            ));
        }
        if let Err((key, message)) = cfg.store.check() {
            let at = match value_offset(src, "store", key) {
                0 => table_offset(src, "store"),
                at => at,
            };
            return Err(invalid(at, message));
        }
        if let Some(g) = &cfg.graph {
            if g.users.is_empty() && g.groups.is_empty() {
                return Err(invalid(
                    table_offset(src, "graph"),
                    "[graph] lists nobody: set users = [\"<Azure AD object id>\", ...] and/or \
                     groups = [\"<Microsoft 365 group id>\", ...], or remove [graph]"
                        .into(),
                ));
            }
            let creds = cfg
                .bot
                .as_ref()
                .is_some_and(|b| b.app_secret_file.is_some() && b.tenant_id.is_some());
            if !creds {
                return Err(invalid(
                    table_offset(src, "graph"),
                    "[graph] needs [bot] app_id, app_secret_file and tenant_id: the relay \
                     installs the app with the bot's own app registration"
                        .into(),
                ));
            }
            if g.conversation_grace.0.is_none() {
                return Err(invalid(
                    value_offset(src, "graph", "conversation_grace"),
                    "[graph] conversation_grace cannot be \"off\": expected a duration like \"60s\""
                        .into(),
                ));
            }
        }
        Ok(cfg)
    }
}

/// Where the value of `[server] key` starts in the source (0 if not found).
fn server_value_offset(src: &str, key: &str) -> usize {
    value_offset(src, "server", key)
}

/// Where the value of `[table] key` starts in the source (0 if not found).
fn value_offset(src: &str, table: &str, key: &str) -> usize {
    type Keys = std::collections::BTreeMap<String, toml::Spanned<toml::Value>>;
    #[derive(Deserialize)]
    struct Located {
        #[serde(default)]
        server: Option<Keys>,
        #[serde(default)]
        graph: Option<Keys>,
        #[serde(default)]
        store: Option<Keys>,
    }
    let Ok(d) = toml::from_str::<Located>(src) else {
        return 0;
    };
    let keys = match table {
        "server" => d.server,
        "graph" => d.graph,
        "store" => d.store,
        _ => None,
    };
    keys.and_then(|k| k.get(key).map(|v| v.span().start))
        .unwrap_or(0)
}

/// Where `[table]` starts in the source (0 if not found).
fn table_offset(src: &str, table: &str) -> usize {
    toml::from_str::<std::collections::BTreeMap<String, toml::Spanned<toml::Value>>>(src)
        .ok()
        .and_then(|d| d.get(table).map(|v| v.span().start))
        .unwrap_or(0)
}

/// Where the config is, from `--config`, `EDGETHERM_RELAY_CONFIG` or the default.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("EDGETHERM_RELAY_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}
