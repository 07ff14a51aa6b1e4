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
    /// `[bot]`: the Teams bot (used by the Teams sender, not built yet).
    #[serde(default)]
    pub bot: Option<toml::Table>,
    /// `[routing]` (not built yet).
    #[serde(default)]
    pub routing: Option<toml::Table>,
    /// `[graph]` (not built yet).
    #[serde(default)]
    pub graph: Option<toml::Table>,
    /// `[gateways]` (not built yet).
    #[serde(default)]
    pub gateways: Option<toml::Table>,
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
    /// rustls certificate (PEM), if the relay terminates TLS itself (not built yet).
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// rustls key (PEM) (not built yet).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
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
        toml::from_str(src).map_err(|e| {
            let (line, column) = line_col(src, e.span().map_or(0, |s| s.start));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })
    }
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
    fn bad_address_is_located() {
        let e = Config::parse(Path::new("r.toml"), "[server]\nlisten = \"nowhere\"\n").unwrap_err();
        assert!(e.to_string().starts_with("r.toml:2:10:"), "{e}");
    }
}
