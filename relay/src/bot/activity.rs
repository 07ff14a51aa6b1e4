//! The parts of a Bot Framework activity the relay reads (Bot Framework
//! Activity schema; Teams channelData).

use serde::{Deserialize, Serialize};

/// A user, bot or conversation member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Channel-specific id (e.g. `29:1...` for a Teams user, `28:<app id>` for a bot).
    #[serde(default)]
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Azure AD object id (users only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
}

/// The conversation an activity belongs to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    /// Conversation id.
    #[serde(default)]
    pub id: String,
    /// `personal`, `channel` or `groupChat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    /// The tenant (Azure AD directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// True for group conversations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
}

/// An id holder in Teams channelData.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdRef {
    /// The id.
    #[serde(default)]
    pub id: String,
}

/// Teams-specific data on an activity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelData {
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<IdRef>,
    /// The team, for channel conversations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<IdRef>,
    /// The channel, for channel conversations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<IdRef>,
    /// `teamMemberAdded`, `teamRenamed`, ... on conversationUpdate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
}

/// An incoming activity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// `message`, `conversationUpdate`, `installationUpdate`, `invoke`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Activity id.
    #[serde(default)]
    pub id: Option<String>,
    /// Where replies go (regional Bot Connector endpoint).
    #[serde(default)]
    pub service_url: String,
    /// `msteams` for Teams.
    #[serde(default)]
    pub channel_id: String,
    /// Sender.
    #[serde(default)]
    pub from: Account,
    /// The bot.
    #[serde(default)]
    pub recipient: Account,
    /// The conversation.
    #[serde(default)]
    pub conversation: Conversation,
    /// Teams data.
    #[serde(default)]
    pub channel_data: Option<ChannelData>,
    /// Members added (conversationUpdate).
    #[serde(default)]
    pub members_added: Vec<Account>,
    /// Members removed (conversationUpdate).
    #[serde(default)]
    pub members_removed: Vec<Account>,
    /// `add` / `remove` (installationUpdate).
    #[serde(default)]
    pub action: Option<String>,
    /// Message text.
    #[serde(default)]
    pub text: Option<String>,
    /// Action.Submit / invoke payload.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// Invoke name (e.g. `adaptiveCard/action`).
    #[serde(default)]
    pub name: Option<String>,
}

impl Activity {
    /// The tenant id, from the conversation or channelData.
    pub fn tenant_id(&self) -> Option<&str> {
        self.conversation.tenant_id.as_deref().or_else(|| {
            self.channel_data
                .as_ref()?
                .tenant
                .as_ref()
                .map(|t| t.id.as_str())
        })
    }

    /// True for a conversationUpdate that adds the bot itself (the install).
    pub fn adds_the_bot(&self) -> bool {
        self.kind == "conversationUpdate"
            && self.members_added.iter().any(|m| m.id == self.recipient.id)
    }

    /// True for a conversationUpdate that removes the bot itself.
    pub fn removes_the_bot(&self) -> bool {
        self.kind == "conversationUpdate"
            && self
                .members_removed
                .iter()
                .any(|m| m.id == self.recipient.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teams_personal_install_parses() {
        let a: Activity = serde_json::from_str(r#"{
            "type": "conversationUpdate", "id": "f:1", "timestamp": "2026-11-21T10:00:00.000Z",
            "serviceUrl": "https://smba.trafficmanager.net/emea/", "channelId": "msteams",
            "from": {"id": "29:1abc", "aadObjectId": "00000000-0000-0000-0000-0000000000aa"},
            "recipient": {"id": "28:00000000-0000-0000-0000-000000000001", "name": "edgetherm"},
            "conversation": {"conversationType": "personal", "tenantId": "tenant-1", "id": "a:1xyz"},
            "membersAdded": [{"id": "28:00000000-0000-0000-0000-000000000001"}],
            "channelData": {"tenant": {"id": "tenant-1"}}
        }"#).unwrap();
        assert!(a.adds_the_bot());
        assert_eq!(a.tenant_id(), Some("tenant-1"));
        assert_eq!(
            a.from.aad_object_id.as_deref(),
            Some("00000000-0000-0000-0000-0000000000aa")
        );
    }
}
