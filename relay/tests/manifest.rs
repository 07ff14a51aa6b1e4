//! `edgetherm-relay manifest`: the real binary writes a Teams app package
//! that follows Microsoft's rules for app manifest schema 1.29, or exits 2
//! naming the relay.toml key to fix.
//!
//! What is checked against the documentation ("Microsoft 365 app manifest
//! schema reference", learn.microsoft.com/microsoft-365/extensibility/schema,
//! and the published JSON schema
//! developer.microsoft.com/json-schemas/teams/v1.29/MicrosoftTeams.schema.json,
//! whose source is github.com/OfficeDev/microsoft-teams-app-schema; nothing
//! is vendored here):
//!
//! - the package: a zip with `manifest.json` and the two icons at its root,
//!   nothing else, no folders;
//! - every property the schema marks required, at each level used (lists
//!   below), and no property the schema does not define
//!   (`additionalProperties: false`);
//! - the value rules: `manifestVersion` and `$schema` agree, `version` is
//!   `MAJOR.MINOR.PATCH`, ids are GUIDs (`^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}
//!   [0-9a-fA-F]{12}$`), developer URLs are https, `accentColor` is `#RRGGBB`,
//!   the documented maximum lengths and item counts, the enums of `scopes`
//!   and `permissions`;
//! - the icons: `color` a 192×192 PNG; `outline` a 32×32 PNG with an alpha
//!   channel whose pixels are white or fully transparent.

use std::io::{Cursor, Read};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_edgetherm-relay");
const APP_ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const MANIFEST_ID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const SCHEMA_VERSION: &str = "1.29";

/// Required properties in schema 1.29, by object.
const ROOT_REQUIRED: &[&str] = &[
    "manifestVersion",
    "version",
    "id",
    "developer",
    "name",
    "description",
    "icons",
    "accentColor",
];
const DEVELOPER_REQUIRED: &[&str] = &["name", "websiteUrl", "privacyUrl", "termsOfUseUrl"];
const NAME_REQUIRED: &[&str] = &["short"];
const DESCRIPTION_REQUIRED: &[&str] = &["short", "full"];
const ICONS_REQUIRED: &[&str] = &["outline", "color"];
const BOT_REQUIRED: &[&str] = &["botId", "scopes"];
const COMMAND_LIST_REQUIRED: &[&str] = &["scopes", "commands"];
const COMMAND_REQUIRED: &[&str] = &["title"];
const WEB_APPLICATION_INFO_REQUIRED: &[&str] = &["id"];

/// The properties schema 1.29 defines, by object (all others are invalid).
const ROOT_PROPERTIES: &[&str] = &[
    "$schema",
    "manifestVersion",
    "version",
    "id",
    "localizationInfo",
    "developer",
    "name",
    "description",
    "icons",
    "accentColor",
    "configurableTabs",
    "staticTabs",
    "bots",
    "connectors",
    "subscriptionOffer",
    "composeExtensions",
    "permissions",
    "devicePermissions",
    "validDomains",
    "webApplicationInfo",
    "graphConnector",
    "showLoadingIndicator",
    "isFullScreen",
    "activities",
    "supportsChannelFeatures",
    "supportedChannelTypes",
    "configurableProperties",
    "defaultBlockUntilAdminAction",
    "publisherDocsUrl",
    "defaultInstallScope",
    "defaultGroupCapability",
    "meetingExtensionDefinition",
    "authorization",
    "extensions",
    "dashboardCards",
    "intuneInfo",
    "copilotAgents",
    "agenticUserTemplates",
    "elementRelationshipSet",
    "backgroundLoadConfiguration",
    "agentConnectors",
    "agentSkills",
];
const DEVELOPER_PROPERTIES: &[&str] =
    &["name", "mpnId", "websiteUrl", "privacyUrl", "termsOfUseUrl"];
const NAME_PROPERTIES: &[&str] = &["short", "full"];
const DESCRIPTION_PROPERTIES: &[&str] = &["short", "full", "features"];
const ICONS_PROPERTIES: &[&str] = &["outline", "color", "color32x32"];
const BOT_PROPERTIES: &[&str] = &[
    "botId",
    "configuration",
    "needsChannelSelector",
    "isNotificationOnly",
    "supportsFiles",
    "supportsCalling",
    "supportsVideo",
    "scopes",
    "supportsTargetedMessages",
    "commandLists",
    "requirementSet",
    "registrationInfo",
];
const COMMAND_LIST_PROPERTIES: &[&str] = &["triggers", "scopes", "commands"];
const COMMAND_PROPERTIES: &[&str] = &["title", "description", "type", "prompt"];
const WEB_APPLICATION_INFO_PROPERTIES: &[&str] = &["id", "resource", "nestedAppAuthInfo"];
const BOT_SCOPES: &[&str] = &["team", "personal", "groupChat", "copilot"];
const PERMISSIONS: &[&str] = &["identity", "messageTeamMembers"];

fn run(dir: &Path, config: &str, args: &[&str]) -> (i32, String, String) {
    let cfg = dir.join("relay.toml");
    std::fs::write(&cfg, config).unwrap();
    let out = Command::new(BIN)
        .arg("manifest")
        .args(args)
        .arg("-c")
        .arg(&cfg)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn config(dir: &Path, public_url: Option<&str>, bot: Option<&str>) -> String {
    let mut toml = format!("[server]\ndata_dir = '{}'\n", dir.join("data").display());
    if let Some(url) = public_url {
        toml += &format!("public_url = \"{url}\"\n");
    }
    if let Some(bot) = bot {
        toml += &format!("[bot]\n{bot}");
    }
    toml
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The zip's entries by name.
fn unzip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            assert!(f.is_file(), "{} is not a file", f.name());
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().to_string(), data)
        })
        .collect()
}

fn decode_png(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
    let mut reader = png::Decoder::new(Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info, buf)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// `v` has every `required` property and none outside `allowed`.
fn check_object(what: &str, v: &Value, required: &[&str], allowed: &[&str]) {
    for k in required {
        assert!(
            v.get(k).is_some(),
            "{what}: required property {k:?} missing in {v}"
        );
    }
    for k in keys(v) {
        assert!(
            allowed.contains(&k),
            "{what}: property {k:?} is not in the schema"
        );
    }
}

fn text<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"))
}

fn max_len(v: &Value, what: &str, max: usize) {
    let n = text(v, what).chars().count();
    assert!(n > 0 && n <= max, "{what}: {n} characters, at most {max}");
}

fn https_url(v: &Value, what: &str) -> String {
    let url = text(v, what);
    assert!(url.starts_with("https://"), "{what} is not https: {url}");
    assert!(url.len() <= 2048, "{what} is too long");
    url.to_string()
}

fn semver(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

/// Checks `m` against the schema's rules (see the top of the file).
fn check_manifest(m: &Value, files: &[&str]) {
    check_object("manifest", m, ROOT_REQUIRED, ROOT_PROPERTIES);
    assert_eq!(m["manifestVersion"], SCHEMA_VERSION);
    assert_eq!(
        m["$schema"],
        format!(
            "https://developer.microsoft.com/json-schemas/teams/v{SCHEMA_VERSION}/MicrosoftTeams.schema.json"
        )
    );
    let version = text(&m["version"], "version");
    assert!(
        semver(version),
        "version {version:?} is not MAJOR.MINOR.PATCH"
    );
    assert!(is_guid(text(&m["id"], "id")), "id is not a GUID");

    let dev = &m["developer"];
    check_object("developer", dev, DEVELOPER_REQUIRED, DEVELOPER_PROPERTIES);
    max_len(&dev["name"], "developer.name", 32);
    for k in ["websiteUrl", "privacyUrl", "termsOfUseUrl"] {
        https_url(&dev[k], k);
    }

    check_object("name", &m["name"], NAME_REQUIRED, NAME_PROPERTIES);
    max_len(&m["name"]["short"], "name.short", 30);
    max_len(&m["name"]["full"], "name.full", 100);
    check_object(
        "description",
        &m["description"],
        DESCRIPTION_REQUIRED,
        DESCRIPTION_PROPERTIES,
    );
    max_len(&m["description"]["short"], "description.short", 80);
    max_len(&m["description"]["full"], "description.full", 4000);

    check_object("icons", &m["icons"], ICONS_REQUIRED, ICONS_PROPERTIES);
    for k in ["color", "outline"] {
        let path = text(&m["icons"][k], k);
        assert!(
            files.contains(&path),
            "icons.{k} = {path:?} is not in the package"
        );
    }
    let accent = text(&m["accentColor"], "accentColor");
    assert!(
        accent.len() == 7
            && accent.starts_with('#')
            && accent[1..].bytes().all(|b| b.is_ascii_hexdigit()),
        "accentColor {accent:?} is not #RRGGBB"
    );

    let bots = m["bots"].as_array().expect("bots");
    assert_eq!(bots.len(), 1, "one bot per app");
    let bot = &bots[0];
    check_object("bot", bot, BOT_REQUIRED, BOT_PROPERTIES);
    assert!(is_guid(text(&bot["botId"], "botId")));
    let scopes = bot["scopes"].as_array().unwrap();
    assert!(!scopes.is_empty() && scopes.len() <= 4);
    for s in scopes {
        assert!(BOT_SCOPES.contains(&text(s, "scope")), "scope {s}");
    }
    assert_eq!(bot["supportsFiles"], false);
    assert_eq!(bot["isNotificationOnly"], false);
    let lists = bot["commandLists"].as_array().expect("commandLists");
    assert!(!lists.is_empty() && lists.len() <= 3);
    for l in lists {
        check_object(
            "commandList",
            l,
            COMMAND_LIST_REQUIRED,
            COMMAND_LIST_PROPERTIES,
        );
        for s in l["scopes"].as_array().unwrap() {
            assert!(
                scopes.contains(s),
                "command list scope {s} is not a bot scope"
            );
        }
        let commands = l["commands"].as_array().unwrap();
        assert!(commands.len() <= 12);
        let titles: Vec<&str> = commands
            .iter()
            .map(|c| {
                check_object("command", c, COMMAND_REQUIRED, COMMAND_PROPERTIES);
                // 32 / 128: the limits of older versions, stricter than 1.29's.
                max_len(&c["title"], "command title", 32);
                max_len(&c["description"], "command description", 128);
                text(&c["title"], "title")
            })
            .collect();
        assert_eq!(
            titles,
            ["help", "status", "subscribe", "unsubscribe", "mute"]
        );
    }

    let permissions = m["permissions"].as_array().expect("permissions");
    assert!(permissions.len() <= 2);
    for p in permissions {
        assert!(
            PERMISSIONS.contains(&text(p, "permission")),
            "permission {p}"
        );
    }
    let domains = m["validDomains"].as_array().expect("validDomains");
    assert!(!domains.is_empty() && domains.len() <= 100);
    for d in domains {
        let d = text(d, "validDomain");
        assert!(!d.contains("://") && !d.contains('/'), "validDomain {d:?}");
    }
    let web = &m["webApplicationInfo"];
    check_object(
        "webApplicationInfo",
        web,
        WEB_APPLICATION_INFO_REQUIRED,
        WEB_APPLICATION_INFO_PROPERTIES,
    );
    assert!(is_guid(text(&web["id"], "webApplicationInfo.id")));
    assert!(text(&web["resource"], "resource").len() <= 2048);
}

#[test]
fn the_package_follows_the_documented_rules() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pkg").join("app.zip");
    std::fs::create_dir(dir.path().join("pkg")).unwrap();
    let cfg = config(
        dir.path(),
        Some("https://Relay.Example.com:8443/edgetherm/"),
        Some(&format!("app_id = \"{APP_ID}\"\n")),
    );
    let (code, stdout, stderr) = run(dir.path(), &cfg, &["--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(out.to_str().unwrap()), "{stdout}");
    assert!(
        stdout.contains("Teams admin center") && stdout.contains("Manage apps"),
        "{stdout}"
    );

    // Exactly the three files, at the root.
    let files = unzip(&out);
    let mut names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(names, ["color.png", "manifest.json", "outline.png"]);
    let file = |name: &str| &files.iter().find(|(n, _)| n == name).unwrap().1;

    let m: Value = serde_json::from_slice(file("manifest.json")).expect("manifest.json is JSON");
    check_manifest(&m, &names);

    // This config's values.
    assert_eq!(
        m["id"], APP_ID,
        "without [graph] manifest_id the id is the bot's"
    );
    assert_eq!(m["bots"][0]["botId"], APP_ID);
    assert_eq!(m["webApplicationInfo"]["id"], APP_ID);
    assert_eq!(
        m["validDomains"],
        serde_json::json!(["relay.example.com:8443"])
    );
    assert_eq!(
        m["developer"]["websiteUrl"],
        "https://relay.example.com:8443/edgetherm/"
    );
    assert_eq!(
        m["developer"]["privacyUrl"],
        "https://relay.example.com:8443/edgetherm/privacy"
    );
    assert_eq!(
        m["developer"]["termsOfUseUrl"],
        "https://relay.example.com:8443/edgetherm/terms"
    );
    assert_eq!(m["version"], env!("CARGO_PKG_VERSION"));

    // color.png: 192×192.
    let (info, _) = decode_png(file("color.png"));
    assert_eq!((info.width, info.height), (192, 192));

    // outline.png: 32×32, with alpha; white or fully transparent; some of each.
    let (info, px) = decode_png(file("outline.png"));
    assert_eq!((info.width, info.height), (32, 32));
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    assert_eq!(
        info.color_type,
        png::ColorType::Rgba,
        "the outline icon needs an alpha channel"
    );
    let mut clear = 0;
    let mut white = 0;
    for (i, p) in px.chunks(4).enumerate() {
        assert!(
            p[3] == 0 || p[..3] == [255, 255, 255],
            "pixel ({}, {}) is {p:?}: neither white nor fully transparent",
            i % 32,
            i / 32
        );
        clear += usize::from(p[3] == 0);
        white += usize::from(p[3] == 255);
    }
    assert!(clear > 0 && white > 0, "{clear} transparent, {white} white");
}

#[test]
fn graph_manifest_id_becomes_the_app_id() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s\n").unwrap();
    let mut cfg = config(
        dir.path(),
        Some("https://relay.example.com"),
        Some(&format!(
            "app_id = \"{APP_ID}\"\napp_secret_file = '{}'\ntenant_id = \"{APP_ID}\"\n",
            secret.display()
        )),
    );
    cfg += &format!(
        "[graph]\nteams_app_id = \"{APP_ID}\"\nmanifest_id = \"{MANIFEST_ID}\"\nusers = [\"{APP_ID}\"]\n"
    );
    let (code, _, stderr) = run(dir.path(), &cfg, &[]);
    assert_eq!(code, 0, "{stderr}");
    // Without --out: edgetherm-teams-app.zip in the current directory.
    let files = unzip(&dir.path().join("edgetherm-teams-app.zip"));
    let m: Value = serde_json::from_slice(
        &files
            .iter()
            .find(|(n, _)| n == "manifest.json")
            .expect("manifest.json")
            .1,
    )
    .unwrap();
    check_manifest(&m, &["manifest.json", "color.png", "outline.png"]);
    assert_eq!(m["id"], MANIFEST_ID);
    assert_eq!(m["bots"][0]["botId"], APP_ID);
    assert_eq!(m["webApplicationInfo"]["id"], APP_ID);
    assert_eq!(m["validDomains"], serde_json::json!(["relay.example.com"]));
}

#[test]
fn missing_or_unusable_keys_exit_2_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let app = format!("app_id = \"{APP_ID}\"\n");
    let cases = [
        (
            config(d, Some("https://relay.example.com"), None),
            "[bot] app_id",
        ),
        (
            config(
                d,
                Some("https://relay.example.com"),
                Some("app_id = \"app\"\n"),
            ),
            "[bot] app_id",
        ),
        (config(d, None, Some(&app)), "[server] public_url"),
        (
            config(d, Some("http://relay.example.com"), Some(&app)),
            "[server] public_url",
        ),
        (
            config(d, Some("relay.example.com"), Some(&app)),
            "[server] public_url",
        ),
    ];
    for (cfg, key) in cases {
        let (code, stdout, stderr) = run(d, &cfg, &[]);
        assert_eq!(code, 2, "{cfg}\n{stdout}{stderr}");
        assert!(stderr.contains(key), "{cfg}: {stderr}");
        assert!(
            !d.join("edgetherm-teams-app.zip").exists(),
            "a package was written for\n{cfg}"
        );
    }
    let (_, _, stderr) = run(
        d,
        &config(d, Some("http://relay.example.com"), Some(&app)),
        &[],
    );
    assert!(stderr.contains("https://"), "{stderr}");
}

#[test]
fn an_unwritable_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        Some("https://relay.example.com"),
        Some(&format!("app_id = \"{APP_ID}\"\n")),
    );
    let out = dir.path().join("no-such-dir").join("app.zip");
    let (code, _, stderr) = run(dir.path(), &cfg, &["--out", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
}
