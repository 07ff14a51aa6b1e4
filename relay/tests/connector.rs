//! The Bot Connector client against a fake Bot Connector (and token
//! endpoint) on 127.0.0.1 that answers as the documented API does (status
//! codes, bodies, `Retry-After`): requests shaped as Teams expects, a 401
//! retried once with a fresh token, every error classified.

mod common;

use std::time::Duration;

use axum::http::Method;
use common::fake_teams::{FakeTeams, Reply};
use common::teams_client::{connector, APP_ID, TENANT_ID};
use edgetherm_relay::teams::connector::{join, Connector, SendError};
use serde_json::json;

/// A fake Teams and a connector that sends to it.
fn setup() -> (FakeTeams, Connector) {
    let fake = FakeTeams::start();
    let c = connector(&fake);
    (fake, c)
}

#[tokio::test]
async fn send_returns_the_id_and_sends_the_activity_unchanged() {
    let (fake, c) = setup();
    let base = fake.base();
    let activity = json!({
        "type": "message",
        "text": "Freezer 2 is at -4 °C",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard", "version": "1.5"}}],
    });
    let id = c
        .send(&format!("{base}/teams/"), "a:1xyz", &activity)
        .await
        .unwrap();
    assert_eq!(id, "1:reply-1");
    let seen = fake.calls();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.method, Method::POST);
    assert_eq!(s.raw_path, "/teams/v3/conversations/a%3A1xyz/activities");
    assert_eq!(s.conversation.as_deref(), Some("a:1xyz"));
    assert_eq!(s.authorization.as_deref(), Some("Bearer tok-1"));
    assert_eq!(s.content_type.as_deref(), Some("application/json"));
    assert_eq!(s.body, activity);
    assert_eq!(fake.unmatched(), 0);
}

#[tokio::test]
async fn service_url_with_or_without_trailing_slash() {
    let (fake, c) = setup();
    let base = fake.base();
    let thread = "19:abc@thread.tacv2;messageid=123";
    for service_url in [format!("{base}/teams"), format!("{base}/teams/")] {
        c.send(&service_url, thread, &json!({"type": "message"}))
            .await
            .unwrap();
    }
    let seen = fake.calls();
    assert_eq!(seen.len(), 2);
    for s in seen {
        assert_eq!(
            s.raw_path,
            "/teams/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D123/activities"
        );
        assert_eq!(s.conversation.as_deref(), Some(thread));
    }
    // One token for both.
    assert_eq!(fake.token_count(), 1);
    assert_eq!(fake.unmatched(), 0);
    assert_eq!(
        join(
            "https://smba.trafficmanager.net/teams/",
            "/v3/conversations"
        ),
        "https://smba.trafficmanager.net/teams/v3/conversations"
    );
}

#[tokio::test]
async fn update_puts_in_place() {
    let (fake, c) = setup();
    let base = fake.base();
    let activity = json!({"type": "message", "id": "1:0abc", "text": "resolved"});
    c.update(&format!("{base}/teams"), "a:1xyz", "1:0abc", &activity)
        .await
        .unwrap();
    let s = &fake.calls()[0];
    assert_eq!(s.method, Method::PUT);
    assert_eq!(
        s.raw_path,
        "/teams/v3/conversations/a%3A1xyz/activities/1%3A0abc"
    );
    assert_eq!(s.conversation.as_deref(), Some("a:1xyz"));
    assert_eq!(s.activity_id.as_deref(), Some("1:0abc"));
    assert_eq!(s.authorization.as_deref(), Some("Bearer tok-1"));
    assert_eq!(s.body, activity);
}

#[tokio::test]
async fn create_conversation_body_shape() {
    let (fake, c) = setup();
    let base = fake.base();
    let id = c
        .create_conversation(
            &format!("{base}/teams/"),
            &format!("28:{APP_ID}"),
            "29:1user-id",
            TENANT_ID,
        )
        .await
        .unwrap();
    assert_eq!(id, "a:1new-conversation");
    let s = &fake.calls()[0];
    assert_eq!(s.method, Method::POST);
    assert_eq!(s.raw_path, "/teams/v3/conversations");
    assert_eq!(s.authorization.as_deref(), Some("Bearer tok-1"));
    assert_eq!(
        s.body,
        json!({
            "bot": {"id": format!("28:{APP_ID}")},
            "members": [{"id": "29:1user-id"}],
            "isGroup": false,
            "tenantId": TENANT_ID,
            "channelData": {"tenant": {"id": TENANT_ID}},
        })
    );
}

#[tokio::test]
async fn create_conversation_without_an_id_is_transient() {
    let (fake, c) = setup();
    let base = fake.base();
    fake.script([Reply::new(201, json!({}))]);
    let e = c
        .create_conversation(&format!("{base}/teams"), "28:b", "29:u", TENANT_ID)
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
}

#[tokio::test]
async fn a_401_gets_one_fresh_token_and_one_retry() {
    let (fake, c) = setup();
    let base = fake.base();
    fake.script([Reply::new(
        401,
        json!({"message": "Authorization has been denied for this request."}),
    )]);
    let id = c
        .send(
            &format!("{base}/teams"),
            "a:1xyz",
            &json!({"type": "message"}),
        )
        .await
        .unwrap();
    assert_eq!(id, "1:reply-2");
    let auths: Vec<_> = fake
        .calls()
        .into_iter()
        .map(|s| s.authorization.unwrap())
        .collect();
    assert_eq!(auths, ["Bearer tok-1", "Bearer tok-2"]);
    assert_eq!(fake.token_count(), 2);
    // The fresh token is the cached one now.
    c.send(
        &format!("{base}/teams"),
        "a:1xyz",
        &json!({"type": "message"}),
    )
    .await
    .unwrap();
    assert_eq!(
        fake.calls()[2].authorization.as_deref(),
        Some("Bearer tok-2")
    );
    assert_eq!(fake.token_count(), 2);
}

#[tokio::test]
async fn two_401s_are_an_auth_error() {
    let (fake, c) = setup();
    let base = fake.base();
    let denied = Reply::new(
        401,
        json!({"message": "Authorization has been denied for this request."}),
    );
    fake.script([denied.clone(), denied.clone(), denied]);
    let e = c
        .send(
            &format!("{base}/teams"),
            "a:1xyz",
            &json!({"type": "message"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Auth(_)), "{e:?}");
    assert!(e.to_string().contains("denied"), "{e}");
    assert!(!e.is_retryable());
    assert_eq!(fake.calls().len(), 2, "retried once, not more");
    assert_eq!(fake.token_count(), 2);
}

#[tokio::test]
async fn token_errors_map_to_auth_or_transient() {
    let (fake, c) = setup();
    let base = fake.base();
    fake.script_token([
        Reply::aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        ),
        Reply::unavailable(),
    ]);
    let url = format!("{base}/teams");
    let e = c
        .send(&url, "a:1xyz", &json!({"type": "message"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SendError::Auth(m) if m.contains("app_secret_file")),
        "{e:?}"
    );
    assert!(!e.to_string().contains("s3cr"), "{e}");
    let e = c
        .send(&url, "a:1xyz", &json!({"type": "message"}))
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
    assert!(fake.calls().is_empty(), "nothing sent without a token");
}

#[tokio::test]
async fn throttling_carries_retry_after() {
    let (fake, c) = setup();
    let base = fake.base();
    fake.script([Reply::throttled().retry_after(7), Reply::throttled()]);
    let url = format!("{base}/teams");
    let e = c
        .send(&url, "a:1xyz", &json!({"type": "message"}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SendError::Throttled { retry_after } if retry_after == Duration::from_secs(7)),
        "{e:?}"
    );
    assert!(e.is_retryable());
    // Without Retry-After: 1 s.
    let e = c
        .send(&url, "a:1xyz", &json!({"type": "message"}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SendError::Throttled { retry_after } if retry_after == Duration::from_secs(1)),
        "{e:?}"
    );
    assert_eq!(fake.calls().len(), 2, "no retries here");
}

#[tokio::test]
async fn retryable_statuses_are_transient() {
    let (fake, c) = setup();
    let base = fake.base();
    fake.script([
        Reply::teams_error(
            412,
            "PreconditionFailed",
            "Precondition failed, please try again.",
        ),
        Reply::teams_error(502, "ServiceError", "Service dependency issue."),
        Reply::unavailable(),
        Reply::new(504, json!({})),
    ]);
    let url = format!("{base}/teams");
    for status in [412, 502, 503, 504] {
        let e = c
            .send(&url, "a:1xyz", &json!({"type": "message"}))
            .await
            .unwrap_err();
        assert!(matches!(e, SendError::Transient(_)), "{status}: {e:?}");
        assert!(e.to_string().contains(&status.to_string()), "{e}");
        assert!(e.is_retryable());
    }
    assert_eq!(fake.calls().len(), 4);
}

#[tokio::test]
async fn final_errors_are_classified() {
    let (fake, c) = setup();
    let base = fake.base();
    let url = format!("{base}/teams");
    let activity = json!({"type": "message"});
    type Check = fn(&SendError) -> bool;
    let cases: Vec<(Reply, Check)> = vec![
        (
            Reply::blocked_by_user(),
            |e| matches!(e, SendError::Blocked(m) if m.contains("ConversationBlockedByUser")),
        ),
        (
            Reply::message_writes_blocked(),
            |e| matches!(e, SendError::Blocked(m) if m.contains("MessageWritesBlocked") && m.contains("Thread is blocked from message writes.")),
        ),
        (
            Reply::new(
                403,
                json!({"error": {"code": "Forbidden", "subCode": "MessageWritesBlocked", "message": "Blocked."}}),
            ),
            |e| matches!(e, SendError::Blocked(_)),
        ),
        (
            Reply::teams_error(
                403,
                "BotNotInConversationRoster",
                "The bot isn't part of the conversation roster.",
            ),
            |e| matches!(e, SendError::NotInstalled(_)),
        ),
        (
            Reply::teams_error(
                403,
                "ForbiddenOperationException",
                "Bot isn't installed in user's personal scope",
            ),
            |e| matches!(e, SendError::NotInstalled(_)),
        ),
        (
            Reply::teams_error(404, "ConversationNotFound", "Conversation not found."),
            |e| matches!(e, SendError::ConversationGone(_)),
        ),
        (
            Reply::teams_error(
                404,
                "ActivityNotFoundInConversation",
                "Conversation not found.",
            ),
            |e| matches!(e, SendError::ActivityGone(_)),
        ),
        (
            Reply::teams_error(
                403,
                "BotDisabledByAdmin",
                "The tenant admin disabled this bot",
            ),
            |e| matches!(e, SendError::Rejected { status: 403, code, .. } if code == "BotDisabledByAdmin"),
        ),
        (
            Reply::teams_error(400, "BadArgument", "Unknown activity type"),
            |e| matches!(e, SendError::Rejected { status: 400, code, message } if code == "BadArgument" && message == "Unknown activity type"),
        ),
        (
            Reply::teams_error(413, "MessageSizeTooBig", "Message size too large."),
            |e| matches!(e, SendError::Rejected { status: 413, .. }),
        ),
        (
            Reply::teams_error(500, "ServiceError", "Internal server error."),
            |e| matches!(e, SendError::Rejected { status: 500, .. }),
        ),
    ];
    let n = cases.len();
    for (r, check) in cases {
        fake.script([r]);
        let e = c.send(&url, "a:1xyz", &activity).await.unwrap_err();
        assert!(check(&e), "{e:?}");
        assert!(!e.is_retryable(), "{e:?}");
    }
    // Updates classify the same way (ActivityNotFoundInConversation is the
    // one that matters there).
    fake.script([Reply::teams_error(
        404,
        "ActivityNotFoundInConversation",
        "Conversation not found.",
    )]);
    let e = c
        .update(&url, "a:1xyz", "1:gone", &activity)
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::ActivityGone(_)), "{e:?}");
    assert_eq!(fake.calls().len(), n + 1);
    assert_eq!(fake.token_count(), 1);
}

#[tokio::test]
async fn insecure_service_url_sends_nothing() {
    let (fake, c) = setup();
    for url in [
        "http://smba.trafficmanager.net/teams/",
        "ftp://127.0.0.1/",
        "not a url",
    ] {
        let e = c
            .send(url, "a:1xyz", &json!({"type": "message"}))
            .await
            .unwrap_err();
        assert!(matches!(e, SendError::InsecureUrl(_)), "{e:?}");
        assert!(!e.is_retryable());
    }
    let e = c
        .create_conversation("http://10.0.0.1/teams", "28:b", "29:u", TENANT_ID)
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::InsecureUrl(_)), "{e:?}");
    assert!(fake.calls().is_empty());
    assert_eq!(fake.token_count(), 0);
}

#[tokio::test]
async fn connection_errors_are_transient() {
    let (fake, c) = setup();
    let base = fake.base();
    // Get a token first, then point at a port nobody listens on.
    c.send(&format!("{base}/teams"), "a:1", &json!({"type": "message"}))
        .await
        .unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = c
        .send(
            &format!("http://{closed}/teams"),
            "a:1",
            &json!({"type": "message"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
}
