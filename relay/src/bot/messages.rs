//! `POST /api/messages`: activities from Teams. Every request's token is
//! validated; conversation references are stored from installs and
//! refreshed from every activity.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};

use axum::response::{IntoResponse, Response};
use axum::Json;

use super::activity::Activity;
use super::auth::AuthError;
use super::replies;
use crate::clock::now_rfc3339 as now;
use crate::conversations::{ConvState, ConversationRef};
use crate::handler::{read_body, ApiError, AppState};
use crate::queue::Queue;
use crate::url_policy::secure_or_loopback;

// Where `serve` and the tests have always found them.
pub use super::{Bot, BotHandle};

/// A 401 for a token that failed, logged with why (the answer says nothing).
fn unauthorized(e: AuthError) -> ApiError {
    tracing::warn!(reason = %e, "refused an activity: bad token");
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized")
}

/// Handles one activity: 200 once the reference is stored, 400 for a bad
/// activity, 401 for a bad token. The token is judged before the body is
/// read, and before anything in the activity is (its `serviceUrl` too).
pub async fn post_messages(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(bot) = s.bot.clone() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no [bot] configured"));
    };
    let verified = match &bot.auth {
        Some(auth) => {
            let authorization = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            Some(auth.verify(authorization).await.map_err(unauthorized)?)
        }
        None => None,
    };
    let body = read_body(body, s.max_body).await?;
    let activity: Activity = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid activity: {e}")))?;
    if let Some(v) = &verified {
        v.check_activity(&activity.service_url, &activity.channel_id)
            .map_err(unauthorized)?;
    }
    if !secure_or_loopback(&activity.service_url) {
        tracing::warn!(service_url = %activity.service_url, "refused an activity whose serviceUrl is not https");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "serviceUrl must be https:// (http:// only on loopback)",
        ));
    }
    if activity.conversation.id.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "activity without conversation.id",
        ));
    }
    let store = s.store.clone();
    let answer = tokio::task::spawn_blocking(
        move || -> Result<Option<String>, crate::store::StoreError> {
            remember(&store, &activity)?;
            let queue = Queue::open(&store);
            let invoke_data = (activity.kind == "invoke"
                && activity.name.as_deref() == Some("adaptiveCard/action"))
            .then(|| {
                activity
                    .value
                    .as_ref()
                    .and_then(|v| v.get("action"))
                    .and_then(|a| a.get("data"))
                    .cloned()
            })
            .flatten();
            match (activity.kind.as_str(), invoke_data, &activity.value) {
                ("invoke", Some(data), _) => Ok(Some(replies::card_action(
                    &store, &queue, &activity, &data,
                )?)),
                ("message", _, Some(value)) if value.get("action").is_some() => {
                    replies::card_action(&store, &queue, &activity, value)?;
                    Ok(None)
                }
                ("message", _, _) => {
                    replies::command(&store, &queue, &activity)?;
                    Ok(None)
                }
                _ => Ok(None),
            }
        },
    )
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    // 503 + Retry-After, like a batch: the store is the one thing missing.
    .map_err(ApiError::from)?;
    Ok(match answer {
        // Universal Actions: an invoke is answered in the HTTP response.
        Some(text) => Json(serde_json::json!({"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text})).into_response(),
        None => StatusCode::OK.into_response(),
    })
}

/// Stores or refreshes the activity's conversation reference.
fn remember(store: &crate::store::Store, a: &Activity) -> Result<(), crate::store::StoreError> {
    let prev = store.conversation(&a.conversation.id)?;
    let known = prev.is_some();
    let mut r = ConversationRef::from_activity(a, prev, &now());
    let installed = (a.kind == "installationUpdate"
        && a.action.as_deref().is_some_and(|x| x.starts_with("add")))
        || a.adds_the_bot();
    let removed = (a.kind == "installationUpdate"
        && a.action.as_deref().is_some_and(|x| x.starts_with("remove")))
        || a.removes_the_bot();
    if removed {
        r.state = ConvState::Inactive;
        r.state_reason = Some(format!("app removed ({})", r.updated_at));
        tracing::info!(conversation = %r.conversation_id, "the app was removed from a conversation");
    } else if installed {
        if r.state != ConvState::Active || !known {
            r.welcome_pending = true;
        }
        r.state = ConvState::Active;
        r.state_reason = None;
        tracing::info!(conversation = %r.conversation_id, who = %r.who(), "conversation reference stored (installed)");
    } else if a.kind == "message"
        && matches!(r.state, ConvState::Inactive | ConvState::NotInstalled)
    {
        // A message from the conversation proves the bot is in it again.
        r.state = ConvState::Active;
        r.state_reason = None;
    }
    if !known && !removed {
        supersede(store, &mut r)?;
    }
    store.put_conversation(&r)
}

/// One user, one personal chat with the bot: when Teams names a personal
/// conversation the relay did not know for a user who already has an active
/// one (made by the Graph installer before Teams' conversationUpdate came,
/// under the id Graph gave), the older one is retired and its settings carry
/// over, so the user never gets an alert twice.
fn supersede(
    store: &crate::store::Store,
    r: &mut ConversationRef,
) -> Result<(), crate::store::StoreError> {
    let Some(aad) = r
        .user
        .as_ref()
        .and_then(|u| u.aad_object_id.clone())
        .filter(|_| r.conversation_type == "personal")
    else {
        return Ok(());
    };
    for mut old in store.conversations()? {
        let same_user = old.conversation_type == "personal"
            && old.conversation_id != r.conversation_id
            && old.state == ConvState::Active
            && old.bot.id == r.bot.id
            && old.tenant_id == r.tenant_id
            && old
                .user
                .as_ref()
                .and_then(|u| u.aad_object_id.as_deref())
                .is_some_and(|x| x.eq_ignore_ascii_case(&aad));
        if !same_user {
            continue;
        }
        r.subscriptions = old.subscriptions.clone();
        r.unsubscribed = old.unsubscribed;
        r.mutes = old.mutes.clone();
        r.welcome_pending = r.welcome_pending && old.welcome_pending;
        old.state = ConvState::Inactive;
        old.state_reason = Some(format!(
            "superseded by {} (the same user's chat, as Teams names it)",
            r.conversation_id
        ));
        tracing::info!(old = %old.conversation_id, new = %r.conversation_id, "a user's conversation reference was replaced by the one Teams reported");
        store.put_conversation(&old)?;
    }
    Ok(())
}
