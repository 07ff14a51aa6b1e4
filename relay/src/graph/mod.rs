//! Proactive installation: reaching people who never opened the bot.
//!
//! For every configured user (`[graph] users`, and the user members of
//! `[graph] groups`), once at start-up and then every `recheck`:
//!
//! 1. A user with an active or blocked personal conversation reference is
//!    done: Teams already told the bot about them (a blocked user is left
//!    alone).
//! 2. Otherwise Graph is asked whether the app is installed for them, and it
//!    is installed when it is not (`201`; a `409` means it already was).
//! 3. Teams then posts the bot an `installationUpdate` / `conversationUpdate`,
//!    which `/api/messages` turns into a conversation reference carrying the
//!    user's AAD object id. If none shows up within `conversation_grace` (or
//!    at once, for an app that was installed before this run), the chat is
//!    looked up through Graph, or created through the Bot Connector, and
//!    stored as an active reference with a welcome owed.
//!
//! Each user's outcome is kept in the `installs` tree ([`report`]) and shown
//! by `edgetherm-relay conversations`. A failure for one user (no such user,
//! missing permission, Graph unavailable) is recorded for that user only;
//! the others go on, and alerts keep flowing to existing conversations.

mod answer;
pub mod client;
mod conversation;
mod pacing;
pub mod report;

use crate::fleet::{Member, Role};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use crate::config;
use crate::conversations::ConvState;
use crate::store::Store;
use crate::teams::connector::Connector;

use crate::clock::now_rfc3339 as now;
use client::{GraphClient, GraphError, Installed};
use report::{conversation_for, InstallRecord, InstallStatus, Reports};

/// The application permission installation needs.
pub const INSTALL_PERMISSION: &str = "TeamsAppInstallation.ReadWriteSelfForUser.All";
/// The application permission listing group members needs.
pub const GROUP_PERMISSION: &str = "GroupMember.Read.All";

/// What the installer works with, from `[bot]` and `[graph]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The app's catalog id.
    pub teams_app_id: String,
    /// The manifest's id (finds an installation under another catalog id).
    pub manifest_id: Option<String>,
    /// Users (AAD object ids).
    pub users: Vec<String>,
    /// Groups whose user members are reached too.
    pub groups: Vec<String>,
    /// How long to wait for Teams' conversationUpdate after an install.
    pub grace: Duration,
    /// How often to look for that reference while waiting.
    pub poll: Duration,
    /// The bot's id in Teams: `28:<app id>`.
    pub bot_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Where conversations are created and, until Teams says otherwise, sent.
    pub service_url: String,
}

impl Settings {
    /// From the config; None without `[graph]` or without `[bot] tenant_id`.
    pub fn from_config(cfg: &config::Config) -> Option<Settings> {
        let (bot, g) = (cfg.bot.as_ref()?, cfg.graph.as_ref()?);
        Some(Settings {
            teams_app_id: g.teams_app_id.to_string(),
            // The manifest's id defaults to the bot's app id (when it is a GUID).
            manifest_id: g
                .manifest_id
                .clone()
                .or_else(|| config::Guid::parse(&bot.app_id).ok())
                .map(|m| m.to_string()),
            users: g.users.iter().map(ToString::to_string).collect(),
            groups: g.groups.iter().map(ToString::to_string).collect(),
            grace: g.conversation_grace.0.unwrap_or(Duration::from_secs(60)),
            poll: Duration::from_secs(1),
            bot_id: format!("28:{}", bot.app_id.trim()),
            tenant_id: bot.tenant_id.clone()?,
            service_url: bot.service_url(),
        })
    }
}

/// How many users ended up in which state after a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// With an active conversation.
    pub ready: usize,
    /// Installed, no conversation yet.
    pub waiting: usize,
    /// The user blocked the bot.
    pub blocked: usize,
    /// Failed (including groups that could not be listed).
    pub failed: usize,
}

/// A user whose conversation is awaited.
struct Pending {
    user: String,
    installation_id: Option<String>,
    deadline: Instant,
}

/// The installer: Graph for installs, the Bot Connector for conversations.
pub struct Installer {
    settings: Settings,
    graph: GraphClient,
    connector: Connector,
    store: Store,
    reports: Reports,
    member: Member,
}

impl Installer {
    /// An installer over these parts.
    pub fn new(
        settings: Settings,
        graph: GraphClient,
        connector: Connector,
        store: Store,
    ) -> Installer {
        Installer {
            reports: Reports::open(&store),
            settings,
            graph,
            connector,
            store,
            member: Member::default(),
        }
    }

    /// The same installer as `member` of a fleet: only the instance that
    /// leads the Graph role runs the pass.
    pub fn in_fleet(mut self, member: Member) -> Installer {
        self.member = member;
        self
    }

    /// The per-user records.
    pub fn reports(&self) -> &Reports {
        &self.reports
    }

    /// Runs now, then every `every` (None: once).
    pub async fn run(self, every: Option<Duration>) {
        loop {
            if !self.leads().await {
                // Another relay runs the pass; take over if it stops.
                tokio::time::sleep(self.member.lease / 2).await;
                continue;
            }
            let s = self.run_once().await;
            tracing::info!(
                ready = s.ready,
                waiting = s.waiting,
                blocked = s.blocked,
                failed = s.failed,
                "Graph installation run finished (details: edgetherm-relay conversations)"
            );
            match every {
                Some(d) => tokio::time::sleep(d).await,
                None => return,
            }
        }
    }

    async fn leads(&self) -> bool {
        let (store, member) = (self.store.clone(), self.member.clone());
        tokio::task::spawn_blocking(move || member.leads(&store, Role::Graph))
            .await
            .unwrap_or(false)
    }

    /// One pass over every configured user; idempotent.
    pub async fn run_once(&self) -> Summary {
        let (users, failed_groups) = self.resolve_users().await;
        // Rows of users no longer configured go; while a group cannot be
        // listed, its members' rows stay (they may still be members).
        let mut keep: HashSet<String> = users.keys().cloned().collect();
        keep.extend(failed_groups.iter().map(|g| format!("group:{g}")));
        let mut prune = true;
        if !failed_groups.is_empty() {
            match self.reports.all() {
                Ok(all) => keep.extend(
                    all.into_iter()
                        .map(|r| r.user)
                        .filter(|u| !u.starts_with("group:")),
                ),
                // Pruning without them would drop rows of possible members.
                Err(_) => prune = false,
            }
        }
        if prune {
            if let Err(e) = self.reports.retain(&keep) {
                tracing::error!(error = %e, "cannot prune the install records");
            }
        }
        let mut pending = Vec::new();
        for (user, via) in &users {
            if let Some(p) = self.check_user(user, via).await {
                pending.push(p);
            }
        }
        self.await_conversations(pending).await;
        self.summary()
    }

    fn summary(&self) -> Summary {
        let mut s = Summary::default();
        let rows = self.reports.rows().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the install records for the summary");
            Vec::new()
        });
        for row in rows {
            match row.state.as_str() {
                "ready" => s.ready += 1,
                "blocked" => s.blocked += 1,
                st if st.starts_with("install failed") => s.failed += 1,
                _ => s.waiting += 1,
            }
        }
        s
    }

    /// Configured users plus the user members of configured groups →
    /// (user → where from), and the groups that could not be listed.
    async fn resolve_users(&self) -> (BTreeMap<String, String>, Vec<String>) {
        let mut users: BTreeMap<String, String> = self
            .settings
            .users
            .iter()
            .map(|u| (u.to_ascii_lowercase(), "users".to_string()))
            .collect();
        let mut failed = Vec::new();
        for g in &self.settings.groups {
            match self.graph.group_users(g).await {
                Ok(members) => {
                    tracing::info!(group = %g, members = members.len(), "group members listed");
                    for m in members {
                        users
                            .entry(m.to_ascii_lowercase())
                            .or_insert_with(|| format!("group {g}"));
                    }
                }
                Err(e) => {
                    failed.push(g.clone());
                    let reason = match &e {
                        GraphError::Forbidden { .. } => format!(
                            "cannot list the members of group {g}: Graph refused ({e}); the app \
                             registration needs the application permission {GROUP_PERMISSION} \
                             with admin consent (Entra ID → App registrations → API permissions \
                             → Grant admin consent)"
                        ),
                        GraphError::NotFound { .. } => {
                            format!("no such group {g} in the directory ({e})")
                        }
                        _ => format!("cannot list the members of group {g}: {e}"),
                    };
                    tracing::warn!(group = %g, "{reason}");
                    self.record(&format!("group:{g}"), None, None, Err(reason));
                }
            }
        }
        (users, failed)
    }

    /// Saves a user's outcome: `Ok(())` installed, `Err(reason)` failed.
    fn record(
        &self,
        user: &str,
        installation_id: Option<String>,
        via: Option<&str>,
        outcome: Result<(), String>,
    ) {
        let prev = self.reports.get(user);
        let rec = InstallRecord {
            user: user.to_string(),
            status: if outcome.is_ok() {
                InstallStatus::Installed
            } else {
                InstallStatus::Failed
            },
            reason: outcome.err(),
            installation_id: installation_id
                .or_else(|| prev.as_ref().and_then(|p| p.installation_id.clone())),
            via: via.map(str::to_string).or_else(|| prev.and_then(|p| p.via)),
            updated_at: now(),
        };
        if let Err(e) = self.reports.put(&rec) {
            tracing::error!(user, error = %e, "cannot store an install record");
        }
    }

    /// Checks (and if needed installs) one user; returns the wait for their
    /// conversation, if one is needed.
    async fn check_user(&self, user: &str, via: &str) -> Option<Pending> {
        let convs = match self.store.conversations() {
            Ok(c) => c,
            Err(e) => {
                // Checked again on the next pass; installing blind could
                // re-install for someone who removed the app.
                tracing::error!(user, error = %e, "cannot read conversation references: user not checked");
                return None;
            }
        };
        if let Some(c) = conversation_for(&convs, user) {
            if matches!(c.state, ConvState::Active | ConvState::Blocked) {
                self.record(user, None, Some(via), Ok(()));
                return None;
            }
        }
        let s = &self.settings;
        let found = self
            .graph
            .installed_app(user, &s.teams_app_id, s.manifest_id.as_deref())
            .await;
        match found {
            Ok(Some(installation)) => {
                // Installed earlier: Teams has nothing new to tell the bot.
                self.record(user, Some(installation.clone()), Some(via), Ok(()));
                Some(Pending {
                    user: user.to_string(),
                    installation_id: Some(installation),
                    deadline: Instant::now(),
                })
            }
            Ok(None) => match self.graph.install(user, &s.teams_app_id).await {
                Ok(how) => {
                    tracing::info!(
                        user,
                        already = how == Installed::AlreadyThere,
                        "Teams app installed for a user; waiting for Teams to tell the bot"
                    );
                    self.record(user, None, Some(via), Ok(()));
                    Some(Pending {
                        user: user.to_string(),
                        installation_id: None,
                        deadline: Instant::now() + s.grace,
                    })
                }
                Err(e) => {
                    let reason = install_failure(&e, true, &s.teams_app_id);
                    tracing::warn!(user, "{reason}");
                    self.record(user, None, Some(via), Err(reason));
                    None
                }
            },
            Err(e) => {
                let reason = install_failure(&e, false, &s.teams_app_id);
                tracing::warn!(user, "{reason}");
                self.record(user, None, Some(via), Err(reason));
                None
            }
        }
    }
}

/// The report for a failed check (`installing`: the POST failed, not the GET).
fn install_failure(e: &GraphError, installing: bool, app: &str) -> String {
    match e {
        GraphError::Forbidden { .. } => format!(
            "Graph refused ({e}): the app registration needs the application permission \
             {INSTALL_PERMISSION} with admin consent (Entra ID → App registrations → API \
             permissions → add it, then Grant admin consent); the app must also be in the \
             organisation's app catalog and allowed by the Teams app permission policy"
        ),
        GraphError::NotFound { .. } if installing => format!(
            "Graph found no app {app} to install ({e}): check [graph] teams_app_id (the id in \
             the org app catalog, not the manifest id)"
        ),
        GraphError::NotFound { .. } => format!("no such user in the directory ({e})"),
        _ => format!("{e} (tried again on the next run)"),
    }
}
