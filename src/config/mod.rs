//! The agent's config file: one TOML file, every error with file:line:col.

mod error;
mod files;
mod rules;
mod sections;
mod sensors;
pub mod units;
mod walker;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use edgetherm_proto::glob::glob_match;
pub use edgetherm_proto::Severity;
pub use error::{ConfigError, LoadError};

use walker::{Ctx, Fields};

/// The default config path.
pub const DEFAULT_PATH: &str = "/etc/edgetherm/edgetherm.toml";

/// How far back a rule's events carry readings when it says nothing (`trend`).
pub const DEFAULT_TREND: Duration = Duration::from_secs(3600);

/// A fully validated agent config.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from.
    pub path: PathBuf,
    /// `[agent]`.
    pub agent: AgentConfig,
    /// `[buffer]`.
    pub buffer: BufferConfig,
    /// `[relay]`, if alerts should leave the gateway.
    pub relay: Option<RelayConfig>,
    /// `[mqtt]`, the broker for `kind = "mqtt"` sensors.
    pub mqtt: Option<MqttConfig>,
    /// `[[sensor]]`, in file order.
    pub sensors: Vec<SensorConfig>,
    /// `[[rule]]`, in file order.
    pub rules: Vec<RuleConfig>,
}

/// `[agent]`.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Stable id of this gateway (default: the host name).
    pub gateway_id: String,
    /// Human label shown in alerts.
    pub site: Option<String>,
    /// Where the local store and control socket live.
    pub data_dir: PathBuf,
    /// Where `/sys` is found (tests point it at fixture trees).
    pub sysfs_root: PathBuf,
    /// Log level when `RUST_LOG` is not set.
    pub log_level: Option<String>,
}

/// `[buffer]`.
#[derive(Debug, Clone)]
pub struct BufferConfig {
    /// Readings older than this are dropped.
    pub retention: Duration,
    /// Disk cap for the store; oldest readings go first.
    pub max_disk: u64,
    /// How often buffered readings are flushed to disk (alert events are flushed at once).
    pub flush_interval: Duration,
}

/// A secret given inline or as a file path.
#[derive(Clone)]
pub enum Secret {
    /// Written in the config itself.
    Inline(String),
    /// Read from this file when needed.
    File(PathBuf),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Secret::Inline(<redacted>)"),
            Secret::File(p) => write!(f, "Secret::File({})", p.display()),
        }
    }
}

/// `[relay]`.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Base URL of the relay (https, or http on loopback).
    pub url: String,
    /// The gateway's bearer token.
    pub token: Secret,
    /// How often a heartbeat is sent.
    pub heartbeat: Duration,
    /// A private CA for the relay's certificate.
    pub ca_file: Option<PathBuf>,
}

/// `[mqtt]`.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// User name, if the broker needs one.
    pub username: Option<String>,
    /// Password, if the broker needs one.
    pub password: Option<Secret>,
    /// A private CA for `mqtts://`.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    pub client_cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    pub client_key_file: Option<PathBuf>,
    /// Client id (default `edgetherm-<gateway_id>`).
    pub client_id: String,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
}

/// One `[[sensor]]`.
#[derive(Debug, Clone)]
pub struct SensorConfig {
    /// Stable id, `[a-z0-9_.-]+`.
    pub id: String,
    /// Human name.
    pub name: Option<String>,
    /// Poll interval (direct sensors).
    pub interval: Duration,
    /// Where the readings come from.
    pub source: SensorSource,
}

impl SensorConfig {
    /// True when the id is a template filled from MQTT topic levels (`"{1}"`).
    pub fn is_template(&self) -> bool {
        sensors::valid_id_template(&self.id)
    }

    /// The name to show people: `name`, or the id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// Where a sensor's readings come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SensorSource {
    /// 1-Wire via the kernel's w1_therm driver.
    W1 {
        /// e.g. `28-0316a2791bff`.
        device: String,
    },
    /// `/sys/class/hwmon/hwmon*/` matched by `name`.
    Hwmon {
        /// The `name` file's content.
        chip: String,
        /// `temp1`, or a `temp*_label` value.
        input: String,
    },
    /// `/sys/class/thermal/thermal_zone*/` matched by `type`.
    Thermal {
        /// The `type` file's content.
        zone: String,
    },
    /// An I2C chip through linux-embedded-hal.
    I2c {
        /// e.g. `/dev/i2c-1`.
        bus: PathBuf,
        /// Chip model.
        chip: String,
        /// 7-bit address.
        address: u8,
    },
    /// A topic on the `[mqtt]` broker.
    Mqtt {
        /// The topic (may hold wildcards).
        topic: String,
        /// `plain`, `json` or a firmware preset.
        format: String,
        /// JSON pointer into the payload.
        field: Option<String>,
        /// Unit of the payload, `C` or `F`.
        unit: Option<String>,
        /// Plausible °C values; outside is a sensor fault.
        range: (f64, f64),
    },
    /// A deterministic simulated sensor.
    Sim(SimPattern),
}

impl SensorSource {
    /// The `kind` string.
    pub fn kind(&self) -> &'static str {
        match self {
            SensorSource::W1 { .. } => "w1",
            SensorSource::Hwmon { .. } => "hwmon",
            SensorSource::Thermal { .. } => "thermal",
            SensorSource::I2c { .. } => "i2c",
            SensorSource::Mqtt { .. } => "mqtt",
            SensorSource::Sim(_) => "sim",
        }
    }
}

/// A simulated sensor's shape over time since the agent started.
#[derive(Debug, Clone, PartialEq)]
pub enum SimPattern {
    /// Always the same value.
    Constant(f64),
    /// Between `min` and `max` with this period, starting at the midpoint, rising.
    Sine {
        /// Lowest value.
        min: f64,
        /// Highest value.
        max: f64,
        /// Full period.
        period: Duration,
    },
    /// `from` until `at`, then `to`.
    Step {
        /// Value before the step.
        from: f64,
        /// Value after the step.
        to: f64,
        /// When the step happens.
        at: Duration,
    },
    /// Piecewise-constant points; each holds until the next. `cycle` repeats the list.
    Points {
        /// `(start, value)`; `None` is a simulated sensor fault.
        points: Vec<(Duration, Option<f64>)>,
        /// Repeat after this long, if set.
        cycle: Option<Duration>,
    },
}

/// One `[[rule]]`.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    /// Stable id (default `rule-<n>`).
    pub id: String,
    /// Globs over sensor ids.
    pub sensors: Vec<String>,
    /// Fire above this (°C).
    pub above: Option<f64>,
    /// Fire below this (°C).
    pub below: Option<f64>,
    /// Resolve only this far back past the threshold.
    pub hysteresis: f64,
    /// Must hold this long before firing.
    pub for_: Duration,
    /// No valid reading for this long is an alert of its own.
    pub stale: Option<Duration>,
    /// How urgent.
    pub severity: Severity,
    /// Re-notify while still firing.
    pub repeat: Option<Duration>,
    /// Flapping window.
    pub flap_window: Duration,
    /// State changes within `flap_window` that make an alert flapping.
    pub flap_changes: u32,
    /// How far back the readings sent with this rule's events reach; `None`
    /// sends none (`trend = "off"`).
    pub trend: Option<Duration>,
}

impl RuleConfig {
    /// True when this rule covers `sensor_id`.
    pub fn covers(&self, sensor_id: &str) -> bool {
        self.sensors.iter().any(|g| glob_match(g, sensor_id))
    }
}

impl Config {
    /// Reads and validates a config file (no other file is opened).
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let src = read(path)?;
        Config::parse(path, &src)
    }

    /// Reads and validates a config file, then checks that every file it
    /// names (token, password, certificates, key) exists, can be opened by
    /// the user running this process and holds what it should: what both
    /// `check-config` and `run` need. All problems come together, in file order.
    pub fn load_with_files(path: &Path) -> Result<Config, LoadError> {
        let src = read(path)?;
        let (parsed, named) = parse_collecting(path, &src);
        let file_errors = files::check(path, &named);
        let mut errors = match parsed {
            Ok(cfg) if file_errors.is_empty() => return Ok(cfg),
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        };
        errors.extend(file_errors);
        errors.sort_by_key(|e| (e.line, e.column));
        Err(LoadError::Invalid(errors))
    }

    /// Validates config text; `path` is used in messages.
    pub fn parse(path: &Path, src: &str) -> Result<Config, LoadError> {
        parse_collecting(path, src).0.map_err(LoadError::Invalid)
    }

    /// The sensor with this id.
    pub fn sensor(&self, id: &str) -> Option<&SensorConfig> {
        self.sensors.iter().find(|s| s.id == id)
    }
}

/// The config text, or why it could not be read.
fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Validates config text, and lists the files it names (even when it is
/// invalid, so that their problems can be reported with the rest).
fn parse_collecting(
    path: &Path,
    src: &str,
) -> (Result<Config, Vec<ConfigError>>, Vec<files::NamedFile>) {
    let mut ctx = Ctx::new(path, src);
    let doc = match toml::de::DeTable::parse(src) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            ctx.error(&span, "", format!("invalid TOML: {}", e.message().trim()));
            return (Err(ctx.errors), ctx.files);
        }
    };
    let mut top = Fields::new(doc.get_ref(), doc.span(), "");
    let agent = sections::agent(&mut ctx, &mut top);
    let buffer = sections::buffer(&mut ctx, &mut top);
    let relay = sections::relay(&mut ctx, &mut top);
    let mqtt = sections::mqtt(&mut ctx, &mut top, &agent.gateway_id);
    // An [mqtt] section with errors of its own still counts as present for mqtt sensors.
    let mqtt_declared = top.has("mqtt");
    let (sensors, sensor_ids) = sensors::sensors(&mut ctx, &mut top, mqtt_declared);
    let rules = rules::rules(&mut ctx, &mut top, &sensor_ids);
    top.finish(&mut ctx, "the top level");
    if ctx.errors.is_empty() {
        let cfg = Config {
            path: path.to_path_buf(),
            agent,
            buffer,
            relay,
            mqtt,
            sensors,
            rules,
        };
        (Ok(cfg), ctx.files)
    } else {
        let mut errors = ctx.errors;
        errors.sort_by_key(|e| (e.line, e.column));
        (Err(errors), ctx.files)
    }
}

/// Where the config is, from `--config`, `EDGETHERM_CONFIG` or the default.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("EDGETHERM_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}
