//! Getting each user's conversation once the app is installed: wait for
//! Teams' conversationUpdate, and past the grace period create the 1:1
//! conversation through the Bot Connector; then keep its reference.

use std::time::{Duration, Instant};

use super::{Installer, Pending};
use crate::bot::activity::Account;
use crate::clock::now_rfc3339 as now;
use crate::conversations::{ConvState, ConversationRef};
use crate::teams::connector::SendError;

use super::report::conversation_for;

impl Installer {
    /// Waits for the users' references; past a user's deadline, gets the
    /// conversation another way.
    pub(super) async fn await_conversations(&self, mut pending: Vec<Pending>) {
        while !pending.is_empty() {
            let convs = self.store.conversations().unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read conversation references while waiting for them");
                Vec::new()
            });
            let now = Instant::now();
            let mut due = Vec::new();
            pending.retain_mut(|p| {
                let known = conversation_for(&convs, &p.user)
                    .is_some_and(|c| matches!(c.state, ConvState::Active | ConvState::Blocked));
                if known {
                    tracing::info!(user = %p.user, "conversation reference present: user ready");
                    return false;
                }
                if now >= p.deadline {
                    due.push(Pending {
                        user: std::mem::take(&mut p.user),
                        installation_id: p.installation_id.take(),
                        deadline: p.deadline,
                    });
                    return false;
                }
                true
            });
            for p in due {
                self.fetch_conversation(p).await;
            }
            if !pending.is_empty() {
                tokio::time::sleep(self.settings.poll).await;
            }
        }
    }

    /// No conversationUpdate came: the chat from Graph, else a conversation
    /// created through the Bot Connector.
    async fn fetch_conversation(&self, p: Pending) {
        let s = &self.settings;
        let user = p.user.as_str();
        let mut why = Vec::new();
        let installation = match p.installation_id {
            Some(i) => Some(i),
            None => match self
                .graph
                .installed_app(user, &s.teams_app_id, s.manifest_id.as_deref())
                .await
            {
                Ok(i) => i,
                Err(e) => {
                    why.push(format!("finding the installation: {e}"));
                    None
                }
            },
        };
        if let Some(inst) = &installation {
            match self.graph.chat_id(user, inst).await {
                Ok(chat) => {
                    tracing::info!(user, conversation = %chat, "no conversationUpdate came: using the chat Graph names");
                    return self.keep(user, &chat, Some(inst.clone()));
                }
                Err(e) => why.push(format!("chat lookup: {e}")),
            }
        }
        match self.create_conversation(user).await {
            Ok(id) => {
                tracing::info!(user, conversation = %id, "no conversationUpdate came: conversation created");
                self.keep(user, &id, installation)
            }
            Err(e) => {
                why.push(format!("create conversation: {e}"));
                let reason = format!(
                    "installed, but no conversation with the user could be had ({})",
                    why.join("; ")
                );
                tracing::warn!(user, "{reason}");
                self.record(user, installation, None, Err(reason));
            }
        }
    }

    /// `POST {serviceUrl}/v3/conversations` with the user's AAD object id,
    /// with a few retries for throttling and transient failures.
    async fn create_conversation(&self, user: &str) -> Result<String, SendError> {
        let s = &self.settings;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .connector
                .create_conversation(&s.service_url, &s.bot_id, user, &s.tenant_id)
                .await
            {
                Err(SendError::Throttled { retry_after }) if attempt < 4 => {
                    tokio::time::sleep(retry_after.min(Duration::from_secs(300))).await
                }
                Err(SendError::Transient(_)) if attempt < 4 => {
                    tokio::time::sleep(Duration::from_secs(1 << attempt)).await
                }
                other => return other,
            }
        }
    }

    /// Stores the user's conversation: active, with a welcome owed (a
    /// blocked reference stays blocked).
    fn keep(&self, user: &str, conversation_id: &str, installation_id: Option<String>) {
        let s = &self.settings;
        let stamp = now();
        let prev = match self.store.conversation(conversation_id) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(user, error = %e, "cannot read the user's conversation reference; checked again on the next pass");
                self.record(user, installation_id, None, Err(e.to_string()));
                return;
            }
        };
        let bot = Account {
            id: s.bot_id.clone(),
            name: None,
            aad_object_id: None,
        };
        let mut r = prev.clone().unwrap_or_else(|| {
            ConversationRef::new(conversation_id, "personal", &s.service_url, bot, &stamp)
        });
        r.tenant_id = r.tenant_id.or_else(|| Some(s.tenant_id.clone()));
        if r.user.is_none() {
            r.user = Some(Account {
                id: user.to_string(),
                name: None,
                aad_object_id: Some(user.to_string()),
            });
        }
        if r.state != ConvState::Blocked && (prev.is_none() || r.state != ConvState::Active) {
            r.state = ConvState::Active;
            r.state_reason = None;
            r.welcome_pending = true;
        }
        r.updated_at = stamp;
        match self.store.put_conversation(&r) {
            Ok(()) => self.record(user, installation_id, None, Ok(())),
            Err(e) => {
                tracing::error!(user, error = %e, "cannot store a conversation reference");
                self.record(
                    user,
                    installation_id,
                    None,
                    Err(format!("cannot store the conversation reference: {e}")),
                );
            }
        }
    }
}
