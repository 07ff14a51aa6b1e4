//! `edgetherm-relay manifest`: the Teams app package an organisation uploads
//! to its app catalog — `manifest.json`, `color.png` and `outline.png` at
//! the root of a zip.
//!
//! The manifest is built by a pure function ([`build`]) from [`Inputs`],
//! which [`Inputs::from_config`] takes from relay.toml: `[bot] app_id` (the
//! bot, a GUID), `[server] public_url` (https: the developer links and the
//! valid domain) and, optionally, `[graph] manifest_id` (the app's id when
//! it should differ from the bot's).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::config::Config;

pub mod icons;
pub mod package;

/// The app manifest schema version written.
///
/// 1.29 is the newest generally available version found: the "Microsoft 365
/// app manifest schema reference"
/// (<https://learn.microsoft.com/en-us/microsoft-365/extensibility/schema/>)
/// lists it (June 2026) among the generally available versions, and the
/// schema is published at [`SCHEMA_URL`] (source: github.com/OfficeDev/
/// microsoft-teams-app-schema, "Update Teams App Manifest schema to v1.29").
/// Everything used here (bots, commandLists, permissions, validDomains,
/// webApplicationInfo) has existed unchanged since 1.5, so an older version
/// would do as well if a cloud's admin center lags behind.
pub const SCHEMA_VERSION: &str = "1.29";

/// The JSON schema of [`SCHEMA_VERSION`].
pub const SCHEMA_URL: &str =
    "https://developer.microsoft.com/json-schemas/teams/v1.29/MicrosoftTeams.schema.json";

/// Where `manifest` writes without `--out`.
pub const DEFAULT_OUT: &str = "edgetherm-teams-app.zip";

/// The brand colour: `accentColor`, and the colour icon's background.
pub const ACCENT: [u8; 3] = [0xC2, 0x41, 0x0C];

/// The app's names (short ≤ 30 characters, full ≤ 100).
const NAME_SHORT: &str = "edgetherm";
const NAME_FULL: &str = "edgetherm temperature alerts";

/// Short description (≤ 80 characters).
const DESCRIPTION_SHORT: &str = "Temperature alerts from your edgetherm gateways, right in Teams.";

/// Full description (≤ 4000 characters).
const DESCRIPTION_FULL: &str = "edgetherm watches temperatures on your own gateways \
(server rooms, racks, freezers, labs) and this bot brings their alerts to Teams. \
It messages you proactively when a sensor goes over or under its threshold, stops \
reporting or fails, and when a gateway falls silent; the card is updated in place \
once the alert resolves. Acknowledge or mute an alert from the card. Type `help` to \
see the commands: `status` shows what this chat receives and the alerts open now, \
`subscribe` and `unsubscribe` choose which gateways, sensors or sites reach this \
chat, and `mute` pauses alerts for a while. The readings stay on the gateways; only \
alert events pass through your organisation's edgetherm relay.";

/// The bot's commands as Teams suggests them: (title, description). They
/// are the ones `teams::commands::parse` understands; descriptions stay
/// under 128 characters (the limit of older manifest versions).
pub const COMMANDS: [(&str, &str); 5] = [
    ("help", "List the commands and how patterns and durations are written"),
    (
        "status",
        "What this chat receives, its mutes, and the alerts open now",
    ),
    (
        "subscribe",
        "subscribe PATTERN: also get alerts matching PATTERN, e.g. dc1-*/rack* or site:Datacenter 1",
    ),
    (
        "unsubscribe",
        "unsubscribe [PATTERN]: stop alerts matching PATTERN; without a pattern, stop all messages",
    ),
    (
        "mute",
        "mute PATTERN DURATION: pause matching alerts, e.g. mute dc1-gw01/* 2h (1 minute to 30 days)",
    ),
];

/// Why no package was written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// relay.toml lacks a key the package needs, or has an unusable value.
    #[error("{0}")]
    Config(String),
    /// Encoding or writing the package failed.
    #[error("{0}")]
    Io(String),
}

impl ManifestError {
    /// The process exit code: 2 for configuration errors (as for an
    /// invalid config file), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ManifestError::Config(_) => 2,
            ManifestError::Io(_) => 1,
        }
    }
}

/// What the manifest is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// The app's id (`id`): `[graph] manifest_id`, else the bot's app id.
    pub manifest_id: String,
    /// The bot's Microsoft App ID (`[bot] app_id`).
    pub bot_app_id: String,
    /// `[server] public_url` without a trailing `/`.
    pub public_url: String,
    /// The host of `public_url` (with its port if not 443), lower case.
    pub domain: String,
    /// The app version (the crate's).
    pub version: String,
}

impl Inputs {
    /// Takes the inputs from relay.toml; a [`ManifestError::Config`] names
    /// the key to set or fix.
    pub fn from_config(cfg: &Config) -> Result<Inputs, ManifestError> {
        let bot_app_id = match &cfg.bot {
            Some(b) => b.app_id.trim().to_string(),
            None => {
                return Err(ManifestError::Config(
                    "the Teams app package needs the bot: set [bot] app_id to the bot's \
                     Microsoft App ID (a GUID, from the Azure Bot resource) in relay.toml"
                        .into(),
                ))
            }
        };
        if !is_guid(&bot_app_id) {
            return Err(ManifestError::Config(format!(
                "[bot] app_id = {bot_app_id:?} is not a GUID: set it to the bot's Microsoft \
                 App ID, e.g. \"00000000-0000-0000-0000-000000000000\" (Azure Bot resource → \
                 Configuration)"
            )));
        }
        let Some(url) = cfg.server.public_url.as_deref() else {
            return Err(ManifestError::Config(
                "the Teams app package needs the relay's public address: set [server] \
                 public_url = \"https://relay.example.com\" in relay.toml"
                    .into(),
            ));
        };
        let (public_url, domain) = parse_public_url(url).map_err(ManifestError::Config)?;
        let manifest_id = graph_manifest_id(cfg).unwrap_or_else(|| bot_app_id.clone());
        Ok(Inputs {
            manifest_id,
            bot_app_id,
            public_url,
            domain,
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
    }
}

/// `[graph] manifest_id`, if set (config.rs has checked it is a GUID).
fn graph_manifest_id(cfg: &Config) -> Option<String> {
    cfg.graph
        .as_ref()
        .and_then(|g| g.manifest_id.as_ref())
        .map(|id| id.as_str().to_string())
}

/// True for `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex digits), the form
/// the manifest schema requires for ids.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Checks `[server] public_url` → (the URL without a trailing `/`, its
/// host with a non-default port). It must be `https://host[:port][/path]`.
pub fn parse_public_url(url: &str) -> Result<(String, String), String> {
    let url = url.trim();
    let bad = |why: &str| {
        format!(
            "[server] public_url = {url:?} {why}: set it to the https:// address Teams \
             reaches the relay at, e.g. \"https://relay.example.com\""
        )
    };
    let Some(rest) = url
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
    else {
        return Err(bad("is not https://"));
    };
    if rest.contains(['?', '#']) {
        return Err(bad("has a query or fragment"));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(bad("contains a user name"));
    }
    let authority = authority.to_ascii_lowercase();
    let no_host = || bad("has no valid host name");
    // An IPv6 literal is bracketed: `[::1]:8443`.
    let (host, port, allowed) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or_else(no_host)?;
        let (h, rest) = authority.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(p) => (h, Some(p), "-.:[]"),
            None if rest.is_empty() => (h, None, "-.:[]"),
            None => return Err(no_host()),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p), "-."),
            None => (authority.as_str(), None, "-."),
        }
    };
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || allowed.contains(c))
    {
        return Err(no_host());
    }
    let domain = match port {
        None | Some("443") => host.to_string(),
        Some(p) if !p.is_empty() && p.parse::<u16>().is_ok() => format!("{host}:{p}"),
        Some(_) => return Err(bad("has an invalid port")),
    };
    let path = path.trim_end_matches('/');
    Ok((format!("https://{authority}{path}"), domain))
}

/// The `manifest.json` document for `inputs`.
pub fn build(inputs: &Inputs) -> Value {
    let base = &inputs.public_url;
    let commands: Vec<Value> = COMMANDS
        .iter()
        .map(|(title, description)| json!({ "title": title, "description": description }))
        .collect();
    json!({
        "$schema": SCHEMA_URL,
        "manifestVersion": SCHEMA_VERSION,
        "version": inputs.version,
        "id": inputs.manifest_id,
        "developer": {
            "name": "edgetherm",
            "websiteUrl": format!("{base}/"),
            "privacyUrl": format!("{base}/privacy"),
            "termsOfUseUrl": format!("{base}/terms"),
        },
        "name": { "short": NAME_SHORT, "full": NAME_FULL },
        "description": { "short": DESCRIPTION_SHORT, "full": DESCRIPTION_FULL },
        "icons": { "color": icons::COLOR_FILE, "outline": icons::OUTLINE_FILE },
        "accentColor": format!("#{:02X}{:02X}{:02X}", ACCENT[0], ACCENT[1], ACCENT[2]),
        "bots": [{
            "botId": inputs.bot_app_id,
            // A group chat works like a channel: @mention the bot, it stores
            // the conversation and sends alerts there.
            "scopes": ["personal", "team", "groupChat"],
            "supportsFiles": false,
            "isNotificationOnly": false,
            "commandLists": [
                { "scopes": ["personal"], "commands": commands },
                { "scopes": ["team", "groupChat"], "commands": commands },
            ],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [inputs.domain],
        // Lets the app install itself for users through Microsoft Graph
        // (TeamsAppInstallation.ReadWriteSelfForUser.All needs it).
        "webApplicationInfo": {
            "id": inputs.bot_app_id,
            "resource": format!("api://{}/{}", inputs.domain, inputs.bot_app_id),
        },
    })
}

/// Builds the package from relay.toml and writes it to `out` (replacing
/// any file there) → the path written.
pub fn write(cfg: &Config, out: &Path) -> Result<PathBuf, ManifestError> {
    let inputs = Inputs::from_config(cfg)?;
    let manifest = build(&inputs);
    let zip = package::build(&manifest).map_err(|e| ManifestError::Io(e.to_string()))?;
    package::write_file(out, &zip)
        .map_err(|e| ManifestError::Io(format!("cannot write {}: {e}", out.display())))?;
    Ok(out.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::teams::commands::{parse, Command};

    const APP: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const OTHER: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    fn config(text: &str) -> Config {
        Config::parse(Path::new("relay.toml"), text).unwrap()
    }

    fn good() -> String {
        format!(
            "[server]\npublic_url = \"https://relay.example.com/\"\n[bot]\napp_id = \"{APP}\"\n"
        )
    }

    #[test]
    fn guids() {
        assert!(is_guid(APP));
        assert!(is_guid(&APP.to_uppercase()));
        for bad in [
            "",
            "app",
            "0f8fad5b-d9cb-469f-a165-70867728950",
            "0f8fad5bd9cb469fa16570867728950e",
            "{0f8fad5b-d9cb-469f-a165-70867728950e}",
            "0f8fad5b-d9cb-469f-a165-70867728950g",
            "0f8fad5b-d9cb-469f-a165-70867728950e-",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
    }

    #[test]
    fn public_urls() {
        let ok = |u: &str| parse_public_url(u).unwrap();
        assert_eq!(
            ok("https://relay.example.com"),
            (
                "https://relay.example.com".into(),
                "relay.example.com".into()
            )
        );
        assert_eq!(
            ok(" HTTPS://Relay.Example.com:443/ "),
            (
                "https://relay.example.com:443".into(),
                "relay.example.com".into()
            )
        );
        assert_eq!(
            ok("https://relay.example.com:8443/edgetherm/"),
            (
                "https://relay.example.com:8443/edgetherm".into(),
                "relay.example.com:8443".into()
            )
        );
        assert_eq!(
            ok("https://[::1]:8443"),
            ("https://[::1]:8443".into(), "[::1]:8443".into())
        );
        for (bad, why) in [
            ("http://relay.example.com", "is not https://"),
            ("relay.example.com", "is not https://"),
            ("https://", "no valid host"),
            ("https:///x", "no valid host"),
            ("https://u:p@relay.example.com", "user name"),
            ("https://relay.example.com:99999", "invalid port"),
            ("https://relay.example.com:", "invalid port"),
            ("https://relay.example.com/?a=b", "query"),
            ("https://relay example.com", "no valid host"),
            ("https://[::1", "no valid host"),
            ("https://[::1]x", "no valid host"),
        ] {
            let e = parse_public_url(bad).unwrap_err();
            assert!(
                e.contains(why) && e.contains("[server] public_url"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn inputs_from_config() {
        let i = Inputs::from_config(&config(&good())).unwrap();
        assert_eq!(i.manifest_id, APP);
        assert_eq!(i.bot_app_id, APP);
        assert_eq!(i.public_url, "https://relay.example.com");
        assert_eq!(i.domain, "relay.example.com");
        assert_eq!(i.version, env!("CARGO_PKG_VERSION"));

        let with_graph = format!(
            "{}app_secret_file = \"/s\"\ntenant_id = \"{APP}\"\n\
             [graph]\nteams_app_id = \"{APP}\"\nmanifest_id = \"{}\"\nusers = [\"{APP}\"]\n",
            good(),
            OTHER.to_uppercase()
        );
        let i = Inputs::from_config(&config(&with_graph)).unwrap();
        assert_eq!(
            (i.manifest_id.as_str(), i.bot_app_id.as_str()),
            (OTHER, APP)
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = |text: &str| {
            let e = Inputs::from_config(&config(text)).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            e.to_string()
        };
        let e = err("[server]\npublic_url = \"https://relay.example.com\"\n");
        assert!(e.contains("[bot] app_id"), "{e}");
        let e = err("[server]\npublic_url = \"https://r.example.com\"\n[bot]\napp_id = \"app\"\n");
        assert!(
            e.contains("[bot] app_id") && e.contains("not a GUID"),
            "{e}"
        );
        let e = err(&format!("[server]\n[bot]\napp_id = \"{APP}\"\n"));
        assert!(e.contains("[server] public_url"), "{e}");
        let e = err(&format!(
            "[server]\npublic_url = \"http://relay.example.com\"\n[bot]\napp_id = \"{APP}\"\n"
        ));
        assert!(
            e.contains("[server] public_url") && e.contains("https"),
            "{e}"
        );
    }

    #[test]
    fn the_manifest() {
        let m = build(&Inputs::from_config(&config(&good())).unwrap());
        assert_eq!(m["$schema"], SCHEMA_URL);
        assert_eq!(m["manifestVersion"], SCHEMA_VERSION);
        assert!(SCHEMA_URL.contains(&format!("/v{SCHEMA_VERSION}/")));
        assert_eq!(m["id"], APP);
        assert_eq!(m["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(m["developer"]["websiteUrl"], "https://relay.example.com/");
        assert_eq!(
            m["developer"]["privacyUrl"],
            "https://relay.example.com/privacy"
        );
        assert_eq!(
            m["developer"]["termsOfUseUrl"],
            "https://relay.example.com/terms"
        );
        assert_eq!(m["accentColor"], "#C2410C");
        assert_eq!(m["icons"]["color"], "color.png");
        assert_eq!(m["icons"]["outline"], "outline.png");
        let bot = &m["bots"][0];
        assert_eq!(bot["botId"], APP);
        assert_eq!(bot["supportsFiles"], false);
        assert_eq!(bot["isNotificationOnly"], false);
        assert_eq!(bot["scopes"], json!(["personal", "team", "groupChat"]));
        assert_eq!(m["permissions"], json!(["identity", "messageTeamMembers"]));
        assert_eq!(m["validDomains"], json!(["relay.example.com"]));
        assert_eq!(m["webApplicationInfo"]["id"], APP);
        assert_eq!(
            m["webApplicationInfo"]["resource"],
            format!("api://relay.example.com/{APP}")
        );
        // Documented lengths.
        assert!(m["name"]["short"].as_str().unwrap().chars().count() <= 30);
        assert!(m["name"]["full"].as_str().unwrap().chars().count() <= 100);
        assert!(m["description"]["short"].as_str().unwrap().chars().count() <= 80);
        assert!(m["description"]["full"].as_str().unwrap().chars().count() <= 4000);
        // Every scope has the same commands.
        let lists = bot["commandLists"].as_array().unwrap();
        assert_eq!(lists.len(), 2);
        for l in lists {
            assert_eq!(l["commands"].as_array().unwrap().len(), COMMANDS.len());
        }
    }

    #[test]
    fn the_commands_are_the_ones_the_bot_understands() {
        let examples = [
            "help",
            "status",
            "subscribe dc1-*/rack*",
            "unsubscribe",
            "mute dc1-gw01/* 2h",
        ];
        for ((title, description), example) in COMMANDS.iter().zip(examples) {
            assert!(example.starts_with(title));
            assert!(!matches!(parse(example), Command::Unknown(_)), "{example}");
            assert!(description.chars().count() <= 128, "{title}");
            assert!(title.chars().count() <= 32, "{title}");
        }
    }
}
