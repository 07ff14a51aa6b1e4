//! The token source against a fake Microsoft identity platform token
//! endpoint on 127.0.0.1: the client-credentials request as documented,
//! tokens cached until 5 minutes before expiry, one fetch shared by
//! concurrent callers, and errors that say what to check without the secret.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::fake_teams::{FakeTeams, Reply};
use common::teams_client::{client, tokens, APP_ID, SCOPE, SECRET, TENANT_ID};
use edgetherm_relay::teams::token::{TokenError, TokenSource};

#[tokio::test]
async fn token_request_shape_and_cache() {
    let fake = FakeTeams::start();
    let ts = tokens(&fake);
    for _ in 0..3 {
        assert_eq!(ts.get().await.unwrap(), "tok-1");
    }
    let reqs = fake.token_requests();
    assert_eq!(reqs.len(), 1, "one fetch for several gets");
    let r = &reqs[0];
    assert_eq!(r.tenant, TENANT_ID);
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let want: HashMap<String, String> = [
        ("grant_type", "client_credentials"),
        ("client_id", APP_ID),
        ("client_secret", SECRET),
        ("scope", SCOPE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(r.form, want);
    // Values are percent-encoded (no raw '&', '=', '+', '/' or ':').
    assert!(
        r.raw_body
            .contains("client_secret=s3cr%2Bt%2F%3D%26%3F%7E+%C3%A9%25"),
        "{}",
        r.raw_body
    );
    assert!(
        r.raw_body
            .contains("scope=https%3A%2F%2Fapi.botframework.com%2F.default"),
        "{}",
        r.raw_body
    );

    ts.invalidate().await;
    assert_eq!(ts.get().await.unwrap(), "tok-2");
    assert_eq!(ts.get().await.unwrap(), "tok-2");
    assert_eq!(fake.token_count(), 2);
}

#[tokio::test]
async fn short_lived_tokens_are_not_cached() {
    let fake = FakeTeams::start();
    // 200 s is inside the 5-minute margin: every get fetches.
    fake.set_token_expires_in(200);
    let ts = tokens(&fake);
    assert_eq!(ts.get().await.unwrap(), "tok-1");
    assert_eq!(ts.get().await.unwrap(), "tok-2");
    assert_eq!(ts.get().await.unwrap(), "tok-3");
    assert_eq!(fake.token_count(), 3);
}

#[tokio::test]
async fn tokens_are_refetched_5_minutes_before_expiry() {
    let fake = FakeTeams::start();
    // Usable for 1 s (301 s − 300 s margin).
    fake.set_token_expires_in(301);
    let ts = tokens(&fake);
    assert_eq!(ts.get().await.unwrap(), "tok-1");
    assert_eq!(ts.get().await.unwrap(), "tok-1");
    assert_eq!(fake.token_count(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(ts.get().await.unwrap(), "tok-2");
    assert_eq!(fake.token_count(), 2);
}

#[tokio::test]
async fn concurrent_gets_share_one_fetch() {
    let fake = FakeTeams::start();
    fake.set_token_delay(Duration::from_millis(300));
    let ts = tokens(&fake);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let ts = ts.clone();
            tokio::spawn(async move { ts.get().await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "tok-1");
    }
    assert_eq!(fake.token_count(), 1);
}

#[tokio::test]
async fn concurrent_gets_share_one_failure() {
    let fake = FakeTeams::start();
    fake.set_token_delay(Duration::from_millis(300));
    fake.script_token([Reply::aad_error(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided.",
    )]);
    let ts = tokens(&fake);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let ts = ts.clone();
            tokio::spawn(async move { ts.get().await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(
            t.await.unwrap(),
            Err(TokenError::Rejected { status: 401, .. })
        ));
    }
    assert_eq!(fake.token_count(), 1);
    // A later call tries again.
    assert_eq!(ts.get().await.unwrap(), "tok-1");
}

#[tokio::test]
async fn invalid_secret_says_what_to_check_without_the_secret() {
    let fake = FakeTeams::start();
    fake.script_token([Reply::aad_error(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '00000000-1111-2222-3333-444444444444'.",
    )]);
    let e = tokens(&fake).get().await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("invalid_client"), "{text}");
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(text.contains("check app_secret_file"), "{text}");
    assert!(text.contains("Trace ID: 0b1c"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains("s3cr"), "{text}");
    assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
    assert!(!e.is_retryable());
    let TokenError::Rejected {
        status,
        error,
        hint,
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert!(hint.is_some());
}

#[tokio::test]
async fn unknown_app_and_tenant_hints() {
    let fake = FakeTeams::start();
    fake.script_token([
        Reply::aad_error(
            400,
            "unauthorized_client",
            700016,
            "Application with identifier '00000000-1111-2222-3333-444444444444' was not found in the directory 'Contoso'.",
        ),
        Reply::aad_error(
            400,
            "invalid_request",
            90002,
            "Tenant '72f988bf-86f1-41af-91ab-2d7cd011db47' not found.",
        ),
    ]);
    let ts = tokens(&fake);
    let e = ts.get().await.unwrap_err().to_string();
    assert!(
        e.contains("AADSTS700016") && e.contains("check app_id and tenant_id"),
        "{e}"
    );
    let e = ts.get().await.unwrap_err().to_string();
    assert!(
        e.contains("AADSTS90002") && e.contains("check tenant_id"),
        "{e}"
    );
}

#[tokio::test]
async fn throttled_or_down_token_endpoint_is_transient() {
    let fake = FakeTeams::start();
    let throttled = Reply::aad_error(429, "temporarily_unavailable", 50196, "Too many requests.")
        .retry_after(3);
    fake.script_token([throttled, Reply::unavailable()]);
    let ts = tokens(&fake);
    let e = ts.get().await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    let e = ts.get().await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.retry_after(), None);
    assert_eq!(ts.get().await.unwrap(), "tok-1");
}

#[tokio::test]
async fn insecure_token_url_is_refused() {
    let ts = TokenSource::new(
        client(),
        format!("http://login.example.com/{TENANT_ID}/oauth2/v2.0/token"),
        APP_ID.into(),
        SECRET.into(),
        SCOPE.into(),
    );
    let e = ts.get().await.unwrap_err();
    assert!(matches!(e, TokenError::InsecureUrl(_)), "{e:?}");
    assert!(!e.is_retryable());
}
