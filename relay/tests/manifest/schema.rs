//! The rules of app manifest schema 1.29 that the package is checked
//! against (see main.rs for where they come from): required and allowed
//! properties per object, and the value rules.

use serde_json::Value;

pub const SCHEMA_VERSION: &str = "1.29";

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

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
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
pub fn check_manifest(m: &Value, files: &[&str]) {
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
