//! Per-user results of proactive installation, kept in the store's
//! `installs` tree, and the rows `edgetherm-relay conversations` prints:
//! "ready", "installed, awaiting conversation", "blocked" or
//! "install failed: <reason>". Whether a user is ready or blocked is read
//! from the conversation references at listing time, so a user who blocks
//! the bot later shows as blocked without another Graph run.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::conversations::{ConvState, ConversationRef};
use crate::store::{Records, Store, StoreError};

/// The store's collection of install records, keyed by user (or `group:<id>`).
pub const TREE: &str = "installs";

/// What the last run achieved for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallStatus {
    /// The app is installed for the user.
    Installed,
    /// It could not be installed (or no conversation could be had): see `reason`.
    Failed,
}

/// One user's install record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstallRecord {
    /// The user's Azure AD object id, or `group:<id>` for a group whose
    /// members could not be listed.
    pub user: String,
    /// Installed or failed.
    pub status: InstallStatus,
    /// Why it failed (what to do about it included).
    #[serde(default)]
    pub reason: Option<String>,
    /// The `teamsAppInstallation` id, once known.
    #[serde(default)]
    pub installation_id: Option<String>,
    /// Where the user came from: `users`, or `group <id>`.
    #[serde(default)]
    pub via: Option<String>,
    /// When this was recorded (RFC 3339).
    pub updated_at: String,
}

/// A row of `edgetherm-relay conversations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstallRow {
    /// The user's Azure AD object id (or `group:<id>`).
    pub user: String,
    /// `ready`, `installed, awaiting conversation`, `blocked`,
    /// `install failed: <reason>` (or the conversation's state, if another).
    pub state: String,
    /// The conversation alerts go to, when there is one.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// Where the user came from: `users`, or `group <id>`.
    #[serde(default)]
    pub via: Option<String>,
    /// When the install was last checked (RFC 3339).
    pub updated_at: String,
}

/// The personal conversation of the user with this AAD object id: an
/// active one first, then a blocked one, then the latest of the rest.
pub fn conversation_for<'a>(
    conversations: &'a [ConversationRef],
    aad_object_id: &str,
) -> Option<&'a ConversationRef> {
    let rank = |c: &ConversationRef| match c.state {
        ConvState::Active => 2,
        ConvState::Blocked => 1,
        _ => 0,
    };
    conversations
        .iter()
        .filter(|c| c.conversation_type == "personal")
        .filter(|c| {
            c.user
                .as_ref()
                .and_then(|u| u.aad_object_id.as_deref())
                .is_some_and(|a| a.eq_ignore_ascii_case(aad_object_id))
        })
        .max_by(|a, b| {
            rank(a)
                .cmp(&rank(b))
                .then_with(|| a.updated_at.cmp(&b.updated_at))
        })
}

/// The listing state of a record, given the user's conversation.
pub fn state_of(rec: &InstallRecord, conv: Option<&ConversationRef>) -> String {
    if rec.status == InstallStatus::Failed {
        return format!(
            "install failed: {}",
            rec.reason.as_deref().unwrap_or("unknown reason")
        );
    }
    match conv.map(|c| c.state) {
        Some(ConvState::Active) => "ready".into(),
        Some(ConvState::Blocked) => "blocked".into(),
        Some(ConvState::Inactive) => {
            "app removed by the user (installed again on the next run)".into()
        }
        Some(ConvState::NotInstalled) => {
            "installed, but Teams says the bot is not in the chat".into()
        }
        None => "installed, awaiting conversation".into(),
    }
}

/// The `installs` records.
#[derive(Clone)]
pub struct Reports {
    store: Store,
    records: Records,
}

impl Reports {
    /// The records inside `store`.
    pub fn open(store: &Store) -> Reports {
        Reports {
            records: store.records(TREE),
            store: store.clone(),
        }
    }

    /// Saves a record (replacing the user's previous one).
    pub fn put(&self, rec: &InstallRecord) -> Result<(), StoreError> {
        self.records.put(&rec.user, rec)
    }

    /// A user's record.
    pub fn get(&self, user: &str) -> Option<InstallRecord> {
        self.records.get(user).ok().flatten()
    }

    /// Every record, by user.
    pub fn all(&self) -> Result<Vec<InstallRecord>, StoreError> {
        self.records.all()
    }

    /// Forgets users that are no longer configured.
    pub fn retain(&self, keep: &HashSet<String>) -> Result<(), StoreError> {
        for rec in self.all()? {
            if !keep.contains(&rec.user) {
                self.records.remove(&rec.user)?;
            }
        }
        self.records.flush()
    }

    /// The listing: one row per record, its state joined with the
    /// conversation references as they are now.
    pub fn rows(&self) -> Result<Vec<InstallRow>, StoreError> {
        let conversations = self.store.conversations()?;
        Ok(self
            .all()?
            .into_iter()
            .map(|rec| {
                let conv = conversation_for(&conversations, &rec.user);
                InstallRow {
                    state: state_of(&rec, conv),
                    conversation_id: conv.map(|c| c.conversation_id.clone()),
                    user: rec.user,
                    via: rec.via,
                    updated_at: rec.updated_at,
                }
            })
            .collect())
    }
}

/// The rows of `data_dir`'s store (for the admin listing).
pub fn rows(store: &Store) -> Result<Vec<InstallRow>, StoreError> {
    Reports::open(store).rows()
}
