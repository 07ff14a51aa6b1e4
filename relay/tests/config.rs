//! relay.toml: defaults, located errors (file:line:column), cloud presets
//! and the token scopes derived from them.

use std::path::Path;
use std::time::Duration;

use edgetherm_relay::config::*;

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
fn token_scopes_follow_the_cloud_not_overridden_urls() {
    let bot = |extra: &str| {
        Config::parse(
            Path::new("r.toml"),
            &format!("[server]\n[bot]\napp_id = \"a\"\n{extra}"),
        )
        .unwrap()
        .bot
        .unwrap()
    };
    let emulated = bot("graph_url = \"http://127.0.0.1:9/graph\"\n");
    assert_eq!(
        emulated.graph_scope(),
        "https://graph.microsoft.com/.default"
    );
    assert_eq!(
        emulated.connector_scope(),
        "https://api.botframework.com/.default"
    );
    let gcch = bot("cloud = \"gcch\"\ngraph_url = \"http://127.0.0.1:9\"\n");
    assert_eq!(gcch.graph_scope(), "https://graph.microsoft.us/.default");
    assert_eq!(
        gcch.connector_scope(),
        "https://api.botframework.us/.default"
    );
    assert_eq!(
        bot("cloud = \"dod\"\n").graph_scope(),
        "https://dod-graph.microsoft.us/.default"
    );
    assert_eq!(
        bot("cloud = \"gcc\"\n").graph_scope(),
        "https://graph.microsoft.com/.default"
    );
    let custom = bot("graph_scope = \"https://graph.example/.default\"\n");
    assert_eq!(custom.graph_scope(), "https://graph.example/.default");
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

const BOT: &str = "[bot]\napp_id = \"a\"\napp_secret_file = \"s\"\ntenant_id = \"t\"\n";

#[test]
fn graph_section() {
    let src = format!(
        "[server]\n{BOT}[graph]\nteams_app_id = \"0D820ECD-DEF2-4297-ADAD-78056CDE7C78\"\n\
         users = [\"5b649834-7412-4cce-9e69-176e95a394f5\"]\nrate = 2\n\
         conversation_grace = \"5s\"\nrecheck = \"off\"\n"
    );
    let g = Config::parse(Path::new("r.toml"), &src)
        .unwrap()
        .graph
        .unwrap();
    assert_eq!(
        g.teams_app_id.as_str(),
        "0d820ecd-def2-4297-adad-78056cde7c78"
    );
    assert_eq!(g.users.len(), 1);
    assert!(g.groups.is_empty() && g.manifest_id.is_none());
    assert_eq!(g.rate, Rate(2.0));
    assert_eq!(g.conversation_grace, Interval(Some(Duration::from_secs(5))));
    assert_eq!(g.recheck, Interval(None));
    let d = Config::parse(
        Path::new("r.toml"),
        &format!("[server]\n{BOT}[graph]\nteams_app_id = \"0d820ecd-def2-4297-adad-78056cde7c78\"\ngroups = [\"5b649834-7412-4cce-9e69-176e95a394f5\"]\n"),
    )
    .unwrap()
    .graph
    .unwrap();
    assert_eq!(d.rate, Rate(5.0));
    assert_eq!(
        d.conversation_grace,
        Interval(Some(Duration::from_secs(60)))
    );
    assert_eq!(d.recheck, Interval(Some(Duration::from_secs(86_400))));
}

#[test]
fn graph_errors_are_located() {
    let app = "teams_app_id = \"0d820ecd-def2-4297-adad-78056cde7c78\"\n";
    let err = |body: &str| {
        Config::parse(
            Path::new("r.toml"),
            &format!("[server]\n{BOT}[graph]\n{body}"),
        )
        .unwrap_err()
        .to_string()
    };
    // Line 7 is the first line after [graph]; the GUID error points at the list.
    let e = err(&format!("{app}users = [\"ok\"]\n"));
    assert!(e.starts_with("r.toml:8:9: expected a GUID"), "{e}");
    let e = err(&format!("{app}users = []\nuser = 1\n"));
    assert!(e.starts_with("r.toml:9:1: unknown field `user`"), "{e}");
    let e = err(&format!(
        "{app}groups = [\"5b649834-7412-4cce-9e69-176e95a394f5\"]\nrate = 0\n"
    ));
    assert!(
        e.starts_with("r.toml:9:8: expected requests per second"),
        "{e}"
    );
    let e = err(&format!(
        "{app}groups = [\"5b649834-7412-4cce-9e69-176e95a394f5\"]\nrecheck = \"daily\"\n"
    ));
    assert!(e.starts_with("r.toml:9:11: expected a duration"), "{e}");
    let e = err(app);
    assert!(e.starts_with("r.toml:6:1: [graph] lists nobody"), "{e}");
    let e = Config::parse(
        Path::new("r.toml"),
        &format!("[server]\n[bot]\napp_id = \"a\"\n[graph]\n{app}users = [\"5b649834-7412-4cce-9e69-176e95a394f5\"]\n"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("[graph] needs [bot] app_id, app_secret_file and tenant_id"),
        "{e}"
    );
}

#[test]
fn bad_address_is_located() {
    let e = Config::parse(Path::new("r.toml"), "[server]\nlisten = \"nowhere\"\n").unwrap_err();
    assert!(e.to_string().starts_with("r.toml:2:10:"), "{e}");
}

#[test]
fn store_section_defaults_to_sled_and_reads_postgres() {
    let c = Config::parse(Path::new("r.toml"), "[server]\n").unwrap();
    assert_eq!(c.store.backend, BackendKind::Sled);
    let c = Config::parse(
        Path::new("r.toml"),
        "[server]\n[store]\nbackend = \"postgres\"\nurl = \"postgres://relay@db.example.com/edgetherm\"\n\
         password_file = \"/etc/edgetherm-relay/db.password\"\ntls = \"verify-full\"\n\
         ca_file = \"/etc/ssl/db-ca.pem\"\npool_size = 4\ntimeout = \"5s\"\nlease_timeout = \"10s\"\n",
    )
    .unwrap();
    let s = &c.store;
    assert_eq!(s.backend, BackendKind::Postgres);
    assert_eq!(s.tls, Some(TlsMode::VerifyFull));
    assert_eq!((s.pool_size(), s.timeout()), (4, Duration::from_secs(5)));
    assert_eq!(s.lease_timeout(), Duration::from_secs(10));
    let d = Config::parse(
        Path::new("r.toml"),
        "[server]\n[store]\nbackend = \"postgres\"\nurl = \"postgres://relay@db/e\"\n",
    )
    .unwrap();
    assert_eq!(d.store.timeout(), Duration::from_secs(10));
    assert_eq!(d.store.lease_timeout(), Duration::from_secs(30));
    assert_eq!(
        d.store.remember_events(),
        Some(Duration::from_secs(30 * 86_400))
    );
    let r = |v: &str| {
        let src = format!("[server]\n[store]\nremember_events = \"{v}\"\n");
        Config::parse(Path::new("r.toml"), &src)
            .unwrap()
            .store
            .remember_events()
    };
    assert_eq!(r("90d"), Some(Duration::from_secs(90 * 86_400)));
    assert_eq!(r("off"), None);
}

#[test]
fn store_mistakes_are_located_and_say_what_to_do() {
    let cases = [
        ("backend = \"postgres\"\n", "r.toml:3:11:", "needs url"),
        ("backend = \"mysql\"\n", "r.toml:3:11:", "unknown variant"),
        (
            "url = \"postgres://a@b/c\"\n",
            "r.toml:3:7:",
            "only used with backend = \"postgres\"",
        ),
        (
            "backend = \"postgres\"\nurl = \"mysql://a@b/c\"\n",
            "r.toml:4:7:",
            "must start with postgres://",
        ),
        (
            "backend = \"postgres\"\nurl = \"postgres://relay:hunter2@db/e\"\n",
            "r.toml:4:7:",
            "password_file",
        ),
        (
            "backend = \"postgres\"\nurl = \"postgres://a@b/c\"\ntls = \"maybe\"\n",
            "r.toml:5:7:",
            "unknown variant",
        ),
        (
            "backend = \"postgres\"\nurl = \"postgres://a@b/c\"\nca_file = \"ca.pem\"\n",
            "r.toml:5:11:",
            "verify-full",
        ),
        (
            "backend = \"postgres\"\nurl = \"postgres://a@b/c\"\nlease_timeout = \"off\"\n",
            "r.toml:5:17:",
            "longer than 0 s",
        ),
        (
            "remember_events = \"12h\"\n",
            "r.toml:3:19:",
            "at least \"1d\"",
        ),
        (
            "backend = \"postgres\"\nurl = \"postgres://a@b/c\"\npool_size = 0\n",
            "r.toml:5:13:",
            "at least 1",
        ),
    ];
    for (store, at, says) in cases {
        let src = format!("[server]\n[store]\n{store}");
        let e = Config::parse(Path::new("r.toml"), &src)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(at), "{store:?}: {e}");
        assert!(e.contains(says), "{store:?}: {e}");
    }
}
