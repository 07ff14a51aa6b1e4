//! Conversation references: everything needed to write to a Teams
//! conversation later, proactively, kept from the activities Teams sends.

use serde::{Deserialize, Serialize};

use crate::bot::activity::{Account, Activity};

/// Whether the relay may write to a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvState {
    /// Installed; messages can be sent.
    Active,
    /// The app was removed (installationUpdate remove / bot removed).
    Inactive,
    /// The user blocked the bot (403 MessageWritesBlocked / ConversationBlockedByUser).
    Blocked,
    /// The bot is not in the conversation (403 BotNotInConversationRoster).
    NotInstalled,
}

impl ConvState {
    /// Lower-case name for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            ConvState::Active => "active",
            ConvState::Inactive => "inactive",
            ConvState::Blocked => "blocked",
            ConvState::NotInstalled => "not installed",
        }
    }
}

/// The channel conversation a thread belongs to. Teams names a thread (a
/// post and its replies) `<channel id>;messageid=<post id>`: activities from
/// inside a thread carry such an id, while posting to the bare channel id
/// starts a new thread. Other ids are returned unchanged.
pub fn thread_root(conversation_id: &str) -> &str {
    conversation_id
        .split_once(";messageid=")
        .map_or(conversation_id, |(root, _)| root)
}

/// A `mute PATTERN DURATION` in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mute {
    /// The pattern.
    pub pattern: String,
    /// Until when (Unix ms).
    pub until_ms: i64,
}

/// A stored conversation reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRef {
    /// The conversation id.
    pub conversation_id: String,
    /// `personal`, `channel` or `groupChat`.
    pub conversation_type: String,
    /// The tenant.
    pub tenant_id: Option<String>,
    /// Where to send (regional; refreshed from every activity).
    pub service_url: String,
    /// The bot's account in this conversation.
    pub bot: Account,
    /// The user, for personal conversations (with the AAD object id).
    pub user: Option<Account>,
    /// The team, for channel conversations.
    pub team_id: Option<String>,
    /// The channel, for channel conversations.
    pub channel_id: Option<String>,
    /// May we write?
    pub state: ConvState,
    /// Why it is not active, for `conversations`.
    pub state_reason: Option<String>,
    /// A welcome is owed (set on install; cleared once sent).
    pub welcome_pending: bool,
    /// The user's own `subscribe` patterns (empty: the relay's `[routing] default`).
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// True after `unsubscribe` with no pattern: nothing until `subscribe`.
    #[serde(default)]
    pub unsubscribed: bool,
    /// Active `mute` commands.
    #[serde(default)]
    pub mutes: Vec<Mute>,
    /// First seen (RFC 3339).
    pub created_at: String,
    /// Last refreshed (RFC 3339).
    pub updated_at: String,
}

impl ConversationRef {
    /// A new, active reference with no user, team or settings yet.
    pub fn new(
        conversation_id: &str,
        conversation_type: &str,
        service_url: &str,
        bot: Account,
        now: &str,
    ) -> ConversationRef {
        ConversationRef {
            conversation_id: conversation_id.to_string(),
            conversation_type: conversation_type.to_string(),
            tenant_id: None,
            service_url: service_url.to_string(),
            bot,
            user: None,
            team_id: None,
            channel_id: None,
            state: ConvState::Active,
            state_reason: None,
            welcome_pending: false,
            subscriptions: Vec::new(),
            unsubscribed: false,
            mutes: Vec::new(),
            created_at: now.to_string(),
            updated_at: now.to_string(),
        }
    }

    /// A reference from an activity (a new one, or `prev` refreshed: the
    /// service URL can move regions and user details can change, while the
    /// state and welcome flag are kept).
    pub fn from_activity(
        a: &Activity,
        prev: Option<ConversationRef>,
        now: &str,
    ) -> ConversationRef {
        let cd = a.channel_data.clone().unwrap_or_default();
        let kind = a
            .conversation
            .conversation_type
            .clone()
            .unwrap_or_else(|| "personal".into());
        let user = (kind == "personal" && !a.from.id.is_empty() && a.from.id != a.recipient.id)
            .then(|| a.from.clone());
        let mut r = prev.unwrap_or_else(|| {
            ConversationRef::new(
                &a.conversation.id,
                &kind,
                &a.service_url,
                a.recipient.clone(),
                now,
            )
        });
        r.conversation_type = kind;
        r.service_url = a.service_url.clone();
        r.tenant_id = a.tenant_id().map(str::to_string).or(r.tenant_id);
        if !a.recipient.id.is_empty() {
            r.bot = a.recipient.clone();
        }
        if user.is_some() {
            r.user = user;
        }
        r.team_id = cd.team.map(|t| t.id).or(r.team_id);
        r.channel_id = cd.channel.map(|c| c.id).or(r.channel_id);
        r.updated_at = now.to_string();
        r
    }

    /// True for one thread of a channel (a reference kept so commands typed
    /// there are answered there): alerts go to the channel itself, each one
    /// a new thread, never into an existing thread.
    pub fn is_thread(&self) -> bool {
        thread_root(&self.conversation_id) != self.conversation_id
    }

    /// Who this is, for listings.
    pub fn who(&self) -> String {
        match (&self.user, &self.team_id) {
            (Some(u), _) => format!(
                "{} ({})",
                u.name.as_deref().unwrap_or("user"),
                u.aad_object_id.as_deref().unwrap_or(&u.id)
            ),
            (None, Some(team)) => format!(
                "team {team} channel {}",
                self.channel_id.as_deref().unwrap_or("?")
            ),
            _ => self.conversation_type.clone(),
        }
    }
}
