//! `relay.toml`: the relay's one config file. Unknown keys are errors, with
//! file:line:column.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    /// `[graph]` (not built yet: accepted so configs written for it load).
    #[serde(default)]
    pub graph: Option<toml::Table>,
    /// `[gateways]`: the liveness watch.
    #[serde(default)]
    pub gateways: crate::liveness::LivenessConfig,
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
}

/// `[bot]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bot {
    /// The bot's Microsoft app id (the token audience).
    pub app_id: String,
    /// File holding the app's client secret (for sending; not used yet).
    #[serde(default)]
    pub app_secret_file: Option<PathBuf>,
    /// The tenant (single-tenant registration).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Which Microsoft cloud: presets for the URLs below.
    #[serde(default)]
    pub cloud: Cloud,
    /// Token authority base URL.
    #[serde(default)]
    pub login_url: Option<String>,
    /// OpenID metadata for inbound token validation.
    #[serde(default)]
    pub openid_metadata_url: Option<String>,
    /// Default Bot Connector service URL.
    #[serde(default)]
    pub service_url: Option<String>,
    /// Microsoft Graph base URL.
    #[serde(default)]
    pub graph_url: Option<String>,
    /// Accept activities without a valid token (local development only).
    #[serde(default)]
    pub allow_unauthenticated: bool,
}

/// The Microsoft cloud the bot lives in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// Commercial.
    #[default]
    Public,
    /// Government Community Cloud.
    Gcc,
    /// GCC High.
    Gcch,
    /// Department of Defense.
    Dod,
}

impl Bot {
    /// The OpenID metadata URL: the override, or the cloud's.
    pub fn openid_metadata_url(&self) -> String {
        self.openid_metadata_url.clone().unwrap_or_else(|| {
            match self.cloud {
                Cloud::Public | Cloud::Gcc => {
                    "https://login.botframework.com/v1/.well-known/openidconfiguration"
                }
                Cloud::Gcch | Cloud::Dod => {
                    "https://login.botframework.azure.us/v1/.well-known/openidconfiguration"
                }
            }
            .to_string()
        })
    }

    /// The token authority: the override, or the cloud's.
    pub fn login_url(&self) -> String {
        self.login_url.clone().unwrap_or_else(|| {
            match self.cloud {
                Cloud::Public | Cloud::Gcc => "https://login.microsoftonline.com",
                Cloud::Gcch | Cloud::Dod => "https://login.microsoftonline.us",
            }
            .to_string()
        })
    }

    /// The default service URL: the override, or the cloud's.
    pub fn service_url(&self) -> String {
        self.service_url.clone().unwrap_or_else(|| {
            match self.cloud {
                Cloud::Public => "https://smba.trafficmanager.net/teams/",
                Cloud::Gcc => "https://smba.infra.gcc.teams.microsoft.com/teams",
                Cloud::Gcch => "https://smba.infra.gov.teams.microsoft.us/teams",
                Cloud::Dod => "https://smba.infra.dod.teams.microsoft.us/teams",
            }
            .to_string()
        })
    }

    /// The Graph base URL: the override, or the cloud's.
    pub fn graph_url(&self) -> String {
        self.graph_url.clone().unwrap_or_else(|| {
            match self.cloud {
                Cloud::Public | Cloud::Gcc => "https://graph.microsoft.com",
                Cloud::Gcch => "https://graph.microsoft.us",
                Cloud::Dod => "https://dod-graph.microsoft.us",
            }
            .to_string()
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
        Ok(cfg)
    }
}

/// Where the value of `[server] key` starts in the source (0 if not found).
fn server_value_offset(src: &str, key: &str) -> usize {
    #[derive(Deserialize)]
    struct Located {
        #[serde(default)]
        server: Option<std::collections::BTreeMap<String, toml::Spanned<toml::Value>>>,
    }
    toml::from_str::<Located>(src)
        .ok()
        .and_then(|d| d.server?.get(key).map(|v| v.span().start))
        .unwrap_or(0)
}

/// Where the config is, from `--config`, `EDGETHERM_RELAY_CONFIG` or the default.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("EDGETHERM_RELAY_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_and_defaults() {
        let c = Config::parse(Path::new("r.toml"), "[server]\ndata_dir = \"/tmp/x\"\n").unwrap();
        assert_eq!(c.server.listen.port(), 3978);
        assert_eq!(c.server.max_body_bytes, 1 << 20);
    }

    #[test]
    fn unknown_keys_are_located() {
        let e = Config::parse(
            Path::new("r.toml"),
            "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("r.toml:3:1: unknown field `lisen`"),
            "{text}"
        );
    }

    #[test]
    fn bot_section_and_cloud_presets() {
        let c = Config::parse(
            Path::new("r.toml"),
            "[server]\n[bot]\napp_id = \"a\"\ncloud = \"gcch\"\n",
        )
        .unwrap();
        let b = c.bot.unwrap();
        assert_eq!(
            b.openid_metadata_url(),
            "https://login.botframework.azure.us/v1/.well-known/openidconfiguration"
        );
        assert_eq!(b.graph_url(), "https://graph.microsoft.us");
        let e = Config::parse(
            Path::new("r.toml"),
            "[server]\n[bot]\napp_id = \"a\"\ncloud = \"mars\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("r.toml:4:9:"), "{e}");
    }

    #[test]
    fn tls_needs_both_files() {
        let c = Config::parse(
            Path::new("r.toml"),
            "[server]\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\n",
        )
        .unwrap();
        assert_eq!(c.server.tls_key_file.as_deref(), Some(Path::new("k.pem")));
        let e = Config::parse(
            Path::new("r.toml"),
            "[server]\nlisten = \"127.0.0.1:1\"\ntls_cert_file = \"c.pem\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("r.toml:3:17: [server] tls_cert_file is set but tls_key_file is missing"),
            "{e}"
        );
        let e = Config::parse(
            Path::new("r.toml"),
            "server = { tls_key_file = \"k.pem\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("r.toml:1:27: [server] tls_key_file is set but tls_cert_file is missing"),
            "{e}"
        );
    }

    #[test]
    fn bad_address_is_located() {
        let e = Config::parse(Path::new("r.toml"), "[server]\nlisten = \"nowhere\"\n").unwrap_err();
        assert!(e.to_string().starts_with("r.toml:2:10:"), "{e}");
    }
}
