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

mod schema;

use std::io::{Cursor, Read};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use schema::check_manifest;

const BIN: &str = env!("CARGO_BIN_EXE_edgetherm-relay");
const APP_ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const MANIFEST_ID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

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
