//! Microsoft Graph, faked on loopback, for proactive installation: a
//! directory of users and groups, an org app catalog, and each user's
//! installed Teams apps. It answers as the v1.0 reference documents:
//!
//! - `GET /v1.0/users/{id}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/id eq '…'`
//!   (or `teamsApp/externalId eq '…'`) → `200 {"value": [...]}`;
//! - `POST` there with `teamsApp@odata.bind` → `201` and no body, `409` when installed;
//! - `GET …/installedApps/{installation}/chat` → `200 {"id": "19:…"}`;
//! - `GET /v1.0/groups/{id}/members/microsoft.graph.user?$select=id` → pages
//!   linked by `@odata.nextLink`;
//! - errors as `{"error": {"code", "message", "innerError"}}`; 404 for an
//!   unknown user or group; 401 without a bearer token.
//!
//! Any request can be answered from a script first (429 with `Retry-After`,
//! 403, the entitlement service's 400...). Every request is recorded. Like
//! [`super::fake_teams::FakeTeams`] it runs on its own thread and runtime.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

pub use super::teams_replies::Reply;

/// What a request was for (the key of a script, with the user or group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// List the user's installed apps.
    List,
    /// Install the app for the user.
    Install,
    /// The user's chat with the app.
    Chat,
    /// A page of a group's members.
    Members,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct GraphCall {
    /// What it was for.
    pub op: Op,
    /// The user or group in the path.
    pub who: String,
    /// GET or POST.
    pub method: Method,
    /// The query as sent (percent-encoded).
    pub raw_query: String,
    /// The query, decoded.
    pub query: HashMap<String, String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The JSON body (Null if none).
    pub body: Value,
    /// The status answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Directory {
    base: String,
    users: HashSet<String>,
    /// Catalog app id → manifest (external) id.
    catalog: HashMap<String, String>,
    /// User → installed catalog app ids.
    installed: HashMap<String, Vec<String>>,
    groups: BTreeMap<String, Vec<String>>,
    page_size: usize,
    script: HashMap<(String, Op), VecDeque<Reply>>,
    calls: Vec<GraphCall>,
}

type Shared = Arc<Mutex<Directory>>;

fn lock(s: &Shared) -> MutexGuard<'_, Directory> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A Graph error body, as Graph sends it.
pub fn graph_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(
        status,
        json!({"error": {"code": code, "message": message, "innerError": {
            "date": "2026-11-21T10:00:00", "request-id": "5e1b", "client-request-id": "5e1b"}}}),
    )
}

/// The 403 of an app registration without `TeamsAppInstallation.ReadWriteSelfForUser.All`.
pub fn missing_permission() -> Reply {
    graph_error(
        403,
        "Forbidden",
        "Missing role permissions on the request. API requires one of \
         'TeamsAppInstallation.ReadWriteSelfForUser.All, TeamsAppInstallation.ReadWriteForUser.All'. \
         Roles on the request ''.",
    )
}

/// The intermittent 400 of Teams' app entitlement service.
pub fn entitlement_hiccup(user: &str) -> Reply {
    graph_error(
        400,
        "BadRequest",
        &format!(
            "Exception in CreateOrUpdateUserAppEntitlementForTeamsAsync. UserId: {user}, \
             Exception(s): 'Failed to execute settings store request: \
             https://amer.settings.teams.internal.office.com/v1.0/settings/teams/users/{user}/appentitlements, \
             StatusCode: 400, ReasonPhrase: Schema validation errors'"
        ),
    )
}

/// The chat id Graph gives for the user's 1:1 chat with the app.
pub fn chat_of(user: &str, app: &str) -> String {
    format!("19:{user}_{app}@unq.gbl.spaces")
}

fn installation_id(user: &str, app: &str) -> String {
    format!("inst~{user}~{app}")
}

struct Req {
    op: Op,
    who: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// Records the request and answers it: a script, else 401 without a
/// token, else `handle` over the directory. A Null body is sent as none
/// (Graph's `201 Created` of an install has no body).
fn answer(f: &Shared, r: Req, handle: impl FnOnce(&mut Directory, &Value) -> Reply) -> Response {
    let mut g = lock(f);
    let raw_query = r.uri.query().unwrap_or("").to_string();
    let query = Query::<HashMap<String, String>>::try_from_uri(&r.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let authorization = r
        .headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    let scripted = g
        .script
        .get_mut(&(r.who.clone(), r.op))
        .and_then(VecDeque::pop_front);
    let reply = match scripted {
        Some(s) => s,
        None if !authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer ")) =>
        {
            graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        }
        None => {
            let mut q = body.clone();
            q["$query"] = json!(query);
            handle(&mut g, &q)
        }
    };
    g.calls.push(GraphCall {
        op: r.op,
        who: r.who,
        method: r.method,
        raw_query,
        query,
        authorization,
        body,
        status: reply.status,
        at: Instant::now(),
    });
    if reply.body.is_null() {
        let mut r = StatusCode::from_u16(reply.status).unwrap().into_response();
        for (k, v) in reply.headers {
            r.headers_mut().insert(k, v.parse().unwrap());
        }
        return r;
    }
    reply.into_response()
}

fn no_user(user: &str) -> Reply {
    graph_error(
        404,
        "Request_ResourceNotFound",
        &format!("Resource '{user}' does not exist or one of its queried reference-property objects are not present."),
    )
}

fn list(d: &mut Directory, user: &str, q: &Value) -> Reply {
    if !d.users.contains(user) {
        return no_user(user);
    }
    let filter = q["$query"]["$filter"].as_str().unwrap_or("");
    let expand = q["$query"]["$expand"]
        .as_str()
        .is_some_and(|e| e.split(',').any(|x| x.trim() == "teamsApp"));
    let wanted = |app: &str| -> Option<bool> {
        if let Some(v) = filter.strip_prefix("teamsApp/id eq '") {
            return Some(v.strip_suffix('\'')? == app);
        }
        if let Some(v) = filter.strip_prefix("teamsApp/externalId eq '") {
            return Some(d.catalog.get(app).map(String::as_str) == Some(v.strip_suffix('\'')?));
        }
        filter.is_empty().then_some(true)
    };
    let mut value = Vec::new();
    for app in d.installed.get(user).into_iter().flatten() {
        match wanted(app) {
            None => return graph_error(400, "BadRequest", "Invalid filter clause"),
            Some(false) => {}
            Some(true) => {
                let mut i = json!({"id": installation_id(user, app)});
                if expand {
                    i["teamsApp"] = json!({"id": app, "externalId": d.catalog.get(app),
                        "displayName": "edgetherm", "distributionMethod": "organization"});
                }
                value.push(i);
            }
        }
    }
    Reply::new(200, json!({"@odata.context": "…", "value": value}))
}

fn install(d: &mut Directory, user: &str, body: &Value) -> Reply {
    if !d.users.contains(user) {
        return no_user(user);
    }
    let bind = body["teamsApp@odata.bind"].as_str().unwrap_or("");
    let prefix = format!("{}/v1.0/appCatalogs/teamsApps/", d.base);
    let Some(app) = bind.strip_prefix(&prefix).map(str::to_string) else {
        return graph_error(400, "BadRequest", "Invalid bind property name teamsApp.");
    };
    if !d.catalog.contains_key(&app) {
        return graph_error(
            404,
            "NotFound",
            &format!("App '{app}' not found in the catalog."),
        );
    }
    let apps = d.installed.entry(user.to_string()).or_default();
    if apps.contains(&app) {
        return graph_error(409, "Conflict", "App is already installed for the user.");
    }
    apps.push(app);
    Reply::new(201, Value::Null)
}

fn chat(d: &mut Directory, user: &str, installation: &str) -> Reply {
    let found = d
        .installed
        .get(user)
        .into_iter()
        .flatten()
        .find(|app| installation_id(user, app) == installation);
    match found {
        Some(app) => Reply::new(
            200,
            json!({"@odata.context": "…/$metadata#chats/$entity", "id": chat_of(user, app)}),
        ),
        None => graph_error(404, "NotFound", "Installation not found."),
    }
}

fn members(d: &mut Directory, group: &str, q: &Value) -> Reply {
    let Some(all) = d.groups.get(group) else {
        return no_user(group);
    };
    let from: usize = q["$query"]["$skiptoken"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let to = (from + d.page_size).min(all.len());
    let value: Vec<Value> = all[from..to]
        .iter()
        .map(|id| json!({"@odata.type": "#microsoft.graph.user", "id": id}))
        .collect();
    let mut page = json!({"value": value});
    if to < all.len() {
        page["@odata.nextLink"] = json!(format!(
            "{}/v1.0/groups/{group}/members/microsoft.graph.user?$select=id&$skiptoken={to}",
            d.base
        ));
    }
    Reply::new(200, page)
}

async fn installed_apps(
    State(f): State<Shared>,
    Path(user): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = if method == Method::POST {
        Op::Install
    } else {
        Op::List
    };
    let who = user.clone();
    answer(
        &f,
        Req {
            op,
            who,
            method,
            uri,
            headers,
            body,
        },
        |d, q| match op {
            Op::Install => install(d, &user, q),
            _ => list(d, &user, q),
        },
    )
}

async fn user_chat(
    State(f): State<Shared>,
    Path((user, inst)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let who = user.clone();
    let r = Req {
        op: Op::Chat,
        who,
        method,
        uri,
        headers,
        body: Bytes::new(),
    };
    answer(&f, r, |d, _| chat(d, &user, &inst))
}

async fn group_members(
    State(f): State<Shared>,
    Path(group): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let who = group.clone();
    let r = Req {
        op: Op::Members,
        who,
        method,
        uri,
        headers,
        body: Bytes::new(),
    };
    answer(&f, r, |d, q| members(d, &group, q))
}

/// The fake Graph, serving until dropped.
pub struct FakeGraph {
    base: String,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeGraph {
    /// Starts on a free loopback port with app `app` (manifest id
    /// `manifest`) in the catalog and nobody in the directory.
    pub fn start(app: &str, manifest: &str) -> FakeGraph {
        let state: Shared = Arc::new(Mutex::new(Directory {
            page_size: 100,
            ..Directory::default()
        }));
        lock(&state).catalog.insert(app.into(), manifest.into());
        let app = Router::new()
            .route(
                "/v1.0/users/{user}/teamwork/installedApps",
                get(installed_apps).post(installed_apps),
            )
            .route(
                "/v1.0/users/{user}/teamwork/installedApps/{inst}/chat",
                get(user_chat),
            )
            .route(
                "/v1.0/groups/{group}/members/microsoft.graph.user",
                get(group_members),
            )
            .with_state(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        lock(&state).base = base.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    r = axum::serve(listener, app) => r.unwrap(),
                    _ = stopped => {}
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        FakeGraph {
            base,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`: the relay's `[bot] graph_url`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Adds users to the directory.
    pub fn add_users(&self, users: &[&str]) {
        lock(&self.state)
            .users
            .extend(users.iter().map(|u| u.to_string()));
    }

    /// The app `app` is installed for `user` already.
    pub fn preinstall(&self, user: &str, app: &str) {
        let mut g = lock(&self.state);
        g.users.insert(user.into());
        g.installed.entry(user.into()).or_default().push(app.into());
    }

    /// Whether `app` is installed for `user`.
    pub fn is_installed(&self, user: &str, app: &str) -> bool {
        lock(&self.state)
            .installed
            .get(user)
            .is_some_and(|a| a.iter().any(|x| x == app))
    }

    /// A group (its members are added to the directory), paged `page_size` a page.
    pub fn add_group(&self, group: &str, members: &[&str], page_size: usize) {
        let mut g = lock(&self.state);
        g.users.extend(members.iter().map(|u| u.to_string()));
        g.groups.insert(
            group.into(),
            members.iter().map(|u| u.to_string()).collect(),
        );
        g.page_size = page_size;
    }

    /// Answers the next `op` requests about `who` with `replies`, then normally.
    pub fn script(&self, who: &str, op: Op, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.state)
            .script
            .entry((who.into(), op))
            .or_default()
            .extend(replies);
    }

    /// Every request so far, in order.
    pub fn calls(&self) -> Vec<GraphCall> {
        lock(&self.state).calls.clone()
    }

    /// The requests about `who`.
    pub fn calls_for(&self, who: &str) -> Vec<GraphCall> {
        self.calls().into_iter().filter(|c| c.who == who).collect()
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
