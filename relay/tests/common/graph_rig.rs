//! The relay in-process around the installer: a store, the Graph installer,
//! the `/api/messages` router (unauthenticated, as with
//! `allow_unauthenticated`) and the Teams sender, all pointed at the fakes.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use edgetherm_relay::api::{router, AppState};
use edgetherm_relay::bot::messages::Bot;
use edgetherm_relay::conversations::ConversationRef;
use edgetherm_relay::graph::client::{GraphClient, RetryPolicy};
use edgetherm_relay::graph::report::{InstallRow, Reports};
use edgetherm_relay::graph::{Installer, Settings, Summary};
use edgetherm_relay::queue::Queue;
use edgetherm_relay::sender::Sender;
use edgetherm_relay::teams::token::TokenSource;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::fake_graph::FakeGraph;
use super::fake_teams::{FakeTeams, BOT_ID, TENANT};
use super::teams_client::{client, connector, APP_ID, SECRET, TENANT_ID};

/// The app's id in the org catalog.
pub const APP: &str = "0d820ecd-def2-4297-adad-78056cde7c78";
/// The manifest's id (the bot's app id, as usual).
pub const MANIFEST: &str = APP_ID;

/// Fakes, store, installer and the inbound router.
pub struct Rig {
    pub teams: FakeTeams,
    pub graph: FakeGraph,
    pub store: super::store::TestStore,
    pub state: AppState,
    pub installer: Installer,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// An installer for `users` and `groups`, waiting `grace` for Teams'
    /// conversationUpdate; Graph retries after 50 ms, 100 ms... (5 attempts).
    pub fn new(users: &[&str], groups: &[&str], grace: Duration) -> Rig {
        let teams = FakeTeams::start();
        let graph = FakeGraph::start(APP, MANIFEST);
        let dir = tempfile::tempdir().unwrap();
        let store = super::store::open(dir.path());
        // The scope as the relay derives it from its config: graph_url
        // points at the fake, which is no Azure AD resource.
        let cfg = edgetherm_relay::config::Config::parse(
            std::path::Path::new("relay.toml"),
            &format!(
                "[server]\n[bot]\napp_id = \"{APP_ID}\"\ngraph_url = \"{}\"\n",
                graph.base()
            ),
        )
        .unwrap();
        let tokens = TokenSource::new(
            client(),
            teams.token_url(TENANT_ID),
            APP_ID.into(),
            SECRET.into(),
            cfg.bot.unwrap().graph_scope(),
        );
        let retry = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(50),
            max: Duration::from_millis(400),
        };
        let client =
            GraphClient::new(client(), Arc::new(tokens), graph.base(), 200.0).with_retry(retry);
        let settings = Settings {
            teams_app_id: APP.into(),
            manifest_id: Some(MANIFEST.into()),
            users: users.iter().map(|u| u.to_string()).collect(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            grace,
            poll: Duration::from_millis(50),
            bot_id: BOT_ID.into(),
            tenant_id: TENANT.into(),
            service_url: teams.service_url(),
        };
        let installer = Installer::new(settings, client, connector(&teams), store.clone());
        let state = AppState {
            commit: edgetherm_relay::commit::Committer::start(store.clone()).unwrap(),
            store: store.clone(),
            metrics: Arc::new(Default::default()),
            max_body: 1 << 20,
            max_pending: 1000,
            bot: Some(Arc::new(Bot { auth: None })),
            routing: Default::default(),
            teams: true,
        };
        Rig {
            teams,
            graph,
            store,
            state,
            installer,
            _dir: dir,
        }
    }

    /// One installer run, at most 30 s.
    pub async fn run_once(&self) -> Summary {
        tokio::time::timeout(Duration::from_secs(30), self.installer.run_once())
            .await
            .expect("the installer run finished within 30 s")
    }

    /// POSTs an activity to /api/messages as Teams would.
    pub async fn post(&self, activity: Value) -> StatusCode {
        let req = Request::post("/api/messages")
            .header("content-type", "application/json")
            .body(Body::from(activity.to_string()))
            .unwrap();
        router(self.state.clone())
            .oneshot(req)
            .await
            .unwrap()
            .status()
    }

    /// What Teams posts to the bot once the app is installed for `aad`:
    /// its personal chat `conversation`.
    pub fn install_activity(&self, conversation: &str, aad: &str) -> Value {
        json!({
            "type": "installationUpdate", "action": "add", "id": "f:install",
            "serviceUrl": self.teams.service_url(), "channelId": "msteams",
            "from": {"id": format!("29:1{aad}"), "name": "Dana", "aadObjectId": aad},
            "recipient": {"id": BOT_ID, "name": "edgetherm"},
            "conversation": {"conversationType": "personal", "tenantId": TENANT, "id": conversation},
            "channelData": {"tenant": {"id": TENANT}}
        })
    }

    /// The user's row in `conversations`.
    pub fn row(&self, user: &str) -> InstallRow {
        Reports::open(&self.store)
            .rows()
            .unwrap()
            .into_iter()
            .find(|r| r.user == user)
            .unwrap_or_else(|| panic!("no install row for {user}"))
    }

    /// A stored conversation reference.
    pub fn conversation(&self, id: &str) -> ConversationRef {
        self.store
            .conversation(id)
            .unwrap()
            .unwrap_or_else(|| panic!("no conversation {id}"))
    }

    /// The send worker, pointed at the fake Teams.
    pub fn sender(&self) -> Sender {
        Sender::new(
            Queue::open(&self.store),
            self.store.clone(),
            connector(&self.teams),
            Default::default(),
            Arc::new(Default::default()),
        )
    }
}

/// Passes until every event is routed and every job sent (at most 10 s).
pub async fn drain(sender: &mut Sender) {
    for _ in 0..100 {
        sender.pass().await;
        if sender.queue.jobs().unwrap().is_empty() && sender.store.pending_len().unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the queue did not drain: {:?}",
        sender.queue.jobs().unwrap()
    );
}
