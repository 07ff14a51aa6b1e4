//! Proactive installation when Graph is difficult: throttling (429 with
//! `Retry-After`), 5xx, the entitlement service's intermittent 400, a
//! missing permission (403), unknown users (404), a chat that cannot be
//! looked up — each reported for its user only, while the others are
//! installed and alerts keep flowing. Also the relay process end to end:
//! `[graph]` in relay.toml, `serve`, and the rows `conversations` prints.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::events::{event, firing_id, marker};
use common::fake_graph::{
    chat_of, entitlement_hiccup, graph_error, missing_permission, FakeGraph, Op,
};
use common::fake_teams::{FakeTeams, BOT_ID, TENANT};
use common::graph_rig::{drain, Rig, APP};
use common::relay_proc::RelayProc;
use edgetherm_proto::EventKind;

const JUNO: &str = "a6b63365-31a4-4f43-92ec-710b71557af9";
const KIM: &str = "0240a368-25e0-4569-8ebe-13601cb55a18";
const LEO: &str = "9fc97ea2-c417-4c76-a2db-197612067b28";
const MAY: &str = "22f73bbe-f67a-4dea-bd54-54cac718cb2b";
const NED: &str = "cf1ba4c7-f94e-4d80-ba90-5594b641a8ee";
const NOPE: &str = "00000000-0000-0000-0000-00000000dead";

fn states(rig: &Rig, op: Op, who: &str) -> Vec<u16> {
    rig.graph
        .calls_for(who)
        .iter()
        .filter(|c| c.op == op)
        .map(|c| c.status)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_transient_failures_are_waited_out() {
    let rig = Rig::new(&[JUNO], &[], Duration::from_millis(200));
    rig.graph.add_users(&[JUNO]);
    rig.graph.script(
        JUNO,
        Op::List,
        [graph_error(429, "TooManyRequests", "Too many requests.").retry_after(1)],
    );
    rig.graph.script(
        JUNO,
        Op::Install,
        [
            entitlement_hiccup(JUNO),
            graph_error(503, "serviceNotAvailable", "Service unavailable."),
        ],
    );
    let summary = rig.run_once().await;
    assert_eq!((summary.ready, summary.failed), (1, 0), "{summary:?}");
    let lists: Vec<_> = rig
        .graph
        .calls_for(JUNO)
        .into_iter()
        .filter(|c| c.op == Op::List)
        .collect();
    assert_eq!(lists[0].status, 429);
    let waited = lists[1].at - lists[0].at;
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After: 1 honoured, waited {waited:?}"
    );
    assert_eq!(states(&rig, Op::Install, JUNO), [400, 503, 201]);
    assert_eq!(rig.row(JUNO).state, "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_reported_and_nothing_else_breaks() {
    let rig = Rig::new(&[KIM, LEO, NOPE], &[], Duration::from_millis(200));
    rig.graph.add_users(&[KIM]);
    rig.graph.preinstall(LEO, APP);
    rig.graph.script(KIM, Op::Install, [missing_permission()]);
    // Someone who installed the app long ago.
    let old = rig.install_activity("a:1old", "aad-old");
    assert_eq!(rig.post(old).await, StatusCode::OK);

    let summary = rig.run_once().await;
    assert_eq!((summary.ready, summary.failed), (1, 2), "{summary:?}");
    let kim = rig.row(KIM).state;
    assert!(
        kim.starts_with(
            "install failed: Graph refused (HTTP 403 Forbidden: Missing role permissions"
        ),
        "{kim}"
    );
    assert!(
        kim.contains("TeamsAppInstallation.ReadWriteSelfForUser.All")
            && kim.contains("Grant admin consent"),
        "{kim}"
    );
    assert_eq!(
        states(&rig, Op::Install, KIM),
        [403],
        "a 403 is not retried"
    );
    let nope = rig.row(NOPE).state;
    assert!(
        nope.starts_with("install failed: no such user in the directory (HTTP 404"),
        "{nope}"
    );
    assert_eq!(rig.row(LEO).state, "ready");

    // Alerts reach the old conversation and Leo's.
    rig.store
        .accept("dc1-gw01", Some("Site"), &[event(1, EventKind::Firing)])
        .unwrap();
    let mut sender = rig.sender();
    tokio::time::timeout(Duration::from_secs(30), drain(&mut sender))
        .await
        .unwrap();
    let mut cards: Vec<String> = rig
        .teams
        .calls()
        .into_iter()
        .filter(|c| c.body.to_string().contains(&marker(&firing_id(1))))
        .filter_map(|c| c.conversation)
        .collect();
    cards.sort();
    let mut want = vec!["a:1old".to_string(), chat_of(LEO, APP)];
    want.sort();
    assert_eq!(cards, want, "one card each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_chat_from_graph_so_the_conversation_is_created() {
    let rig = Rig::new(&[MAY], &[], Duration::from_millis(200));
    rig.graph.preinstall(MAY, APP);
    rig.graph.script(
        MAY,
        Op::Chat,
        [graph_error(404, "NotFound", "Chat not found.")],
    );
    assert_eq!(rig.run_once().await.ready, 1);
    let calls = rig.teams.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].raw_path, "/teams/v3/conversations");
    let body = &calls[0].body;
    assert_eq!(body["bot"]["id"], BOT_ID);
    assert_eq!(body["members"][0]["id"], MAY);
    assert_eq!(body["isGroup"], false);
    assert_eq!(body["tenantId"], TENANT);
    assert_eq!(body["channelData"]["tenant"]["id"], TENANT);
    // The fake Bot Connector answers {"id": "a:1new-conversation"}.
    let row = rig.row(MAY);
    assert_eq!(row.state, "ready");
    assert_eq!(row.conversation_id.as_deref(), Some("a:1new-conversation"));
    assert!(rig.conversation("a:1new-conversation").welcome_pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_down_is_reported_then_retried_on_the_next_run() {
    let rig = Rig::new(&[NED], &[], Duration::from_millis(200));
    rig.graph.preinstall(NED, APP);
    let down = || graph_error(503, "serviceNotAvailable", "Service unavailable.");
    rig.graph.script(NED, Op::List, (0..5).map(|_| down()));
    assert_eq!(rig.run_once().await.failed, 1);
    let state = rig.row(NED).state;
    assert!(
        state.starts_with("install failed:")
            && state.contains("HTTP 503")
            && state.contains("gave up after 5 attempts")
            && state.contains("tried again on the next run"),
        "{state}"
    );
    assert_eq!(rig.run_once().await.ready, 1, "the next run gets through");
    assert_eq!(rig.row(NED).state, "ready");
}

#[test]
fn the_relay_process_installs_and_lists_the_outcome() {
    let teams = FakeTeams::start();
    let graph = FakeGraph::start(APP, "00000000-1111-2222-3333-444444444444");
    graph.add_users(&[KIM]);
    graph.preinstall(LEO, APP);
    graph.script(KIM, Op::Install, [missing_permission()]);
    let mut relay = RelayProc::new();
    let secret = relay.dir().join("secret");
    std::fs::write(&secret, "not-a-real-secret\n").unwrap();
    let config = format!(
        "[bot]\napp_id = \"00000000-1111-2222-3333-444444444444\"\n\
         app_secret_file = '{}'\ntenant_id = \"{TENANT}\"\nlogin_url = \"{}\"\n\
         graph_url = \"{}\"\nservice_url = \"{}\"\nallow_unauthenticated = true\n\n\
         [graph]\nteams_app_id = \"{APP}\"\nusers = [\"{KIM}\", \"{LEO}\"]\n\
         conversation_grace = \"1s\"\n",
        secret.display(),
        teams.base(),
        graph.base(),
        teams.service_url()
    );
    relay = relay.with_config(&config);
    relay.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let (code, out, err) = relay.cli(&["conversations"]);
        assert_eq!(code, 0, "{err}");
        if out.contains("install failed") && out.contains(" ready") {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "no install rows within 20 s:\n{out}\n{}",
            relay.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let kim = out.lines().find(|l| l.starts_with(KIM)).unwrap();
    assert!(
        kim.contains("TeamsAppInstallation.ReadWriteSelfForUser.All"),
        "{out}"
    );
    let leo = out.lines().find(|l| l.starts_with(LEO)).unwrap();
    assert!(
        leo.contains("ready") && leo.contains(&chat_of(LEO, APP)),
        "{out}"
    );
    let (code, json, _) = relay.cli(&["conversations", "--json"]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["installs"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(j["conversations"].as_array().unwrap().len(), 1, "{json}");
    assert!(relay.still_running());
    assert!(relay.stop().success());
}
