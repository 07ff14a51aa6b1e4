//! `/api/messages`: conversation references stored from installs, refreshed
//! from every activity, marked inactive on removal; bad activities refused.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::fake_login::{self, FakeLogin, BOT_FRAMEWORK_KID, ENTRA_KID};
use edgetherm_relay::api::{router, AppState};
use edgetherm_relay::bot::auth::BotAuth;
use edgetherm_relay::bot::messages::Bot;
use edgetherm_relay::commit::Committer;
use edgetherm_relay::config::Config;
use edgetherm_relay::conversations::ConvState;
use serde_json::{json, Value};
use tower::ServiceExt;

const BOT: &str = "28:00000000-0000-0000-0000-000000000001";

/// The state, and the store behind it (a database stays up while it lives).
fn state(dir: &std::path::Path, auth: Option<BotAuth>) -> (AppState, common::store::TestStore) {
    let store = common::store::open(dir);
    let state = AppState {
        commit: Committer::start(store.clone()).unwrap(),
        store: store.clone(),
        metrics: Arc::new(Default::default()),
        max_body: 1 << 20,
        max_pending: 1000,
        bot: Some(Arc::new(Bot { auth })),
        routing: Default::default(),
        teams: false,
    };
    (state, store)
}

fn install(service_url: &str) -> Value {
    json!({
        "type": "installationUpdate", "action": "add", "id": "f:1",
        "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": "29:1user", "name": "Dana", "aadObjectId": "aad-dana"},
        "recipient": {"id": BOT, "name": "edgetherm"},
        "conversation": {"conversationType": "personal", "tenantId": "tenant-1", "id": "a:1dana"},
        "channelData": {"tenant": {"id": "tenant-1"}}
    })
}

async fn post(s: &AppState, body: Value, auth: Option<&str>) -> StatusCode {
    let mut req = Request::post("/api/messages").header("content-type", "application/json");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    router(s.clone())
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap()
        .status()
}

/// POSTs a body that is not JSON, without a token.
async fn post_raw(s: &AppState, body: &'static str) -> StatusCode {
    router(s.clone())
        .oneshot(
            Request::post("/api/messages")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn install_refresh_and_removal() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _db) = state(dir.path(), None);
    assert_eq!(
        post(&s, install("https://smba.trafficmanager.net/emea/"), None).await,
        StatusCode::OK
    );
    let c = s.store.conversation("a:1dana").unwrap().expect("stored");
    assert_eq!(c.state, ConvState::Active);
    assert!(c.welcome_pending, "a welcome is owed after an install");
    assert_eq!(c.tenant_id.as_deref(), Some("tenant-1"));
    assert_eq!(
        c.user.as_ref().unwrap().aad_object_id.as_deref(),
        Some("aad-dana")
    );
    assert_eq!(c.bot.id, BOT);

    // Any later activity refreshes the service URL (Teams can move regions).
    let mut msg = install("https://smba.trafficmanager.net/amer/");
    msg["type"] = json!("message");
    msg["text"] = json!("help");
    msg.as_object_mut().unwrap().remove("action");
    assert_eq!(post(&s, msg, None).await, StatusCode::OK);
    let c = s.store.conversation("a:1dana").unwrap().unwrap();
    assert_eq!(c.service_url, "https://smba.trafficmanager.net/amer/");
    assert!(
        c.welcome_pending,
        "still owed: refreshing does not clear it"
    );

    let mut remove = install("https://smba.trafficmanager.net/amer/");
    remove["action"] = json!("remove");
    assert_eq!(post(&s, remove, None).await, StatusCode::OK);
    let c = s.store.conversation("a:1dana").unwrap().unwrap();
    assert_eq!(c.state, ConvState::Inactive);
    assert!(c.state_reason.unwrap().contains("removed"));
    assert_eq!(s.store.conversations().unwrap().len(), 1);
}

#[tokio::test]
async fn a_team_install_by_conversation_update() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _db) = state(dir.path(), None);
    let update = json!({
        "type": "conversationUpdate", "serviceUrl": "https://smba.trafficmanager.net/emea/", "channelId": "msteams",
        "from": {"id": "29:1admin"}, "recipient": {"id": BOT},
        "conversation": {"conversationType": "channel", "isGroup": true, "tenantId": "tenant-1", "id": "19:general@thread.tacv2"},
        "membersAdded": [{"id": BOT}],
        "channelData": {"tenant": {"id": "tenant-1"}, "team": {"id": "19:team@thread.tacv2"}, "channel": {"id": "19:general@thread.tacv2"}, "eventType": "teamMemberAdded"}
    });
    assert_eq!(post(&s, update, None).await, StatusCode::OK);
    let c = s
        .store
        .conversation("19:general@thread.tacv2")
        .unwrap()
        .unwrap();
    assert_eq!(c.conversation_type, "channel");
    assert_eq!(c.team_id.as_deref(), Some("19:team@thread.tacv2"));
    assert!(c.user.is_none());
    assert!(c.welcome_pending);
}

#[tokio::test]
async fn bad_activities_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _db) = state(dir.path(), None);
    assert_eq!(
        post(&s, install("http://evil.example.com/"), None).await,
        StatusCode::BAD_REQUEST,
        "serviceUrl must be https"
    );
    let mut no_conv = install("https://smba.trafficmanager.net/emea/");
    no_conv["conversation"] = json!({});
    assert_eq!(post(&s, no_conv, None).await, StatusCode::BAD_REQUEST);
    assert_eq!(post_raw(&s, "{nope").await, StatusCode::BAD_REQUEST);
    assert!(s.store.conversations().unwrap().is_empty());
}

#[tokio::test]
async fn without_a_token_nothing_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Metadata is never fetched for a request without a token.
    let auth = BotAuth::new(
        reqwest::Client::new(),
        "http://127.0.0.1:9/never".into(),
        "app".into(),
    );
    let (s, _db) = state(dir.path(), Some(auth));
    assert_eq!(
        post(&s, install("https://smba.trafficmanager.net/emea/"), None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(
            &s,
            install("https://smba.trafficmanager.net/emea/"),
            Some("Basic abc")
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    // The token is judged before the activity: a non-https serviceUrl or a
    // body that is not even JSON says nothing to a client without a token.
    assert_eq!(
        post(&s, install("http://evil.example.com/"), None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post_raw(&s, "{nope").await, StatusCode::UNAUTHORIZED);
    assert!(s.store.conversations().unwrap().is_empty());
}

/// `[bot] tenant_id` set: Entra-issued tokens of that tenant get in, with or
/// without a `serviceurl` claim, beside the Bot Framework's own; another
/// tenant's do not. The keys come from `login_url`, as `serve` configures.
#[tokio::test]
async fn single_tenant_bots_accept_entra_tokens_of_their_tenant() {
    const APP: &str = "00000000-0000-0000-0000-0000000000b0";
    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const OTHER: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
    let _ = rustls::crypto::ring::default_provider().install_default();
    let login = FakeLogin::start(TENANT).await;
    let toml = format!(
        "[server]\n[bot]\napp_id = \"{APP}\"\ntenant_id = \"{TENANT}\"\n\
         login_url = \"{}\"\nopenid_metadata_url = \"{}\"\n",
        login.base,
        login.metadata_url()
    );
    let cfg = Config::parse(std::path::Path::new("relay.toml"), &toml).unwrap();
    let auth = BotAuth::from_config(reqwest::Client::new(), cfg.bot.as_ref().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (s, _db) = state(dir.path(), Some(auth));
    let service_url = "https://smba.trafficmanager.net/emea/";
    let entra = |iss: &str, tid: &str| {
        let claims = json!({
            "aud": APP, "iss": iss, "tid": tid, "ver": "2.0",
            "nbf": fake_login::now() - 60, "exp": fake_login::now() + 3600,
        });
        format!(
            "Bearer {}",
            fake_login::sign(&claims, ENTRA_KID, fake_login::entra_key())
        )
    };

    let other = entra(
        &format!("https://login.microsoftonline.com/{OTHER}/v2.0"),
        OTHER,
    );
    assert_eq!(
        post(&s, install(service_url), Some(&other)).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(s.store.conversations().unwrap().is_empty());

    let v2 = entra(
        &format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
        TENANT,
    );
    assert_eq!(
        post(&s, install(service_url), Some(&v2)).await,
        StatusCode::OK
    );
    assert_eq!(s.store.conversations().unwrap().len(), 1);
    let v1 = entra(&format!("https://sts.windows.net/{TENANT}/"), TENANT);
    assert_eq!(
        post(&s, install(service_url), Some(&v1)).await,
        StatusCode::OK
    );

    // The Bot Framework's tokens still get in, with their serviceurl claim.
    let bf = json!({
        "aud": APP, "iss": "https://api.botframework.com", "serviceurl": service_url,
        "nbf": fake_login::now() - 60, "exp": fake_login::now() + 3600,
    });
    let bf = format!(
        "Bearer {}",
        fake_login::sign(&bf, BOT_FRAMEWORK_KID, fake_login::bot_framework_key())
    );
    assert_eq!(
        post(&s, install(service_url), Some(&bf)).await,
        StatusCode::OK
    );
}
