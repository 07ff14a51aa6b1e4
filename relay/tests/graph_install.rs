//! Proactive installation through Microsoft Graph, in-process against a fake
//! Graph, a fake token endpoint and a fake Bot Connector: the app installed
//! for users who never opened the bot, their conversation picked up from
//! Teams' conversationUpdate (or looked up when none comes), and alerts then
//! delivered to them as cards.

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::events::{event, marker};
use common::fake_graph::{chat_of, Op, Reply};
use common::fake_teams::{Call, BOT_ID, TENANT};
use common::graph_rig::{drain, Rig, APP, MANIFEST};
use edgetherm_proto::EventKind;
use edgetherm_relay::admin::{handle, Reply as AdminReply, Request};
use edgetherm_relay::conversations::ConvState;
use serde_json::json;

const DANA: &str = "5b649834-7412-4cce-9e69-176e95a394f5";
const ERIN: &str = "97a5a533-833d-494b-b543-c0afe026cb96";
const FRAN: &str = "f32b83bb-4fc8-4db7-b7f5-76cdbbb8aa1c";
const GUS: &str = "0089a17f-4d1d-4519-bc81-d722f88fc281";
const HAL: &str = "48d31887-5fad-4d73-a9f5-3c356e68a038";
const IDA: &str = "4b0e3b2d-63c3-4f2a-9c5d-9f2c0a3c1a11";
const GROUP: &str = "02bd9fd6-8f93-4758-87c3-1fb73740a315";
const NO_GROUP: &str = "11111111-2222-3333-4444-555555555555";

/// Waits (at most 10 s) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// At most 30 s for `f`.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("finished within 30 s")
}

/// Bot Connector POSTs to `conversation` that Teams accepted.
fn posts_to<'a>(calls: &'a [Call], conversation: &str) -> Vec<&'a Call> {
    calls
        .iter()
        .filter(|c| c.method == "POST" && c.conversation.as_deref() == Some(conversation))
        .filter(|c| (200..300).contains(&c.status))
        .collect()
}

fn is_card(c: &Call, k: usize) -> bool {
    c.body["attachments"].is_array()
        && c.body
            .to_string()
            .contains(&marker(&common::events::firing_id(k)))
}

fn is_welcome(c: &Call) -> bool {
    c.body["text"]
        .as_str()
        .is_some_and(|t| t.contains("I'm **edgetherm**"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_then_teams_reports_the_chat_then_an_alert_arrives() {
    let rig = Rig::new(&[DANA], &[], Duration::from_secs(20));
    rig.graph.add_users(&[DANA]);
    // Teams tells the bot once the app is installed (it never opened it).
    let teams_says_so = async {
        until("the install", || rig.graph.is_installed(DANA, APP)).await;
        let status = rig.post(rig.install_activity("a:1dana", DANA)).await;
        assert_eq!(status, StatusCode::OK);
    };
    let (summary, ()) = bounded(async { tokio::join!(rig.run_once(), teams_says_so) }).await;
    assert_eq!((summary.ready, summary.failed), (1, 0), "{summary:?}");

    let calls = rig.graph.calls_for(DANA);
    let ops: Vec<(Op, u16)> = calls.iter().map(|c| (c.op, c.status)).collect();
    assert_eq!(
        ops,
        [(Op::List, 200), (Op::List, 200), (Op::Install, 201)],
        "by catalog id, by manifest id, then the install; no chat lookup"
    );
    assert_eq!(calls[0].query["$filter"], format!("teamsApp/id eq '{APP}'"));
    assert_eq!(calls[0].query["$expand"], "teamsApp");
    assert!(
        calls[0].raw_query.contains("%20eq%20") && !calls[0].raw_query.contains('+'),
        "spaces percent-encoded: {}",
        calls[0].raw_query
    );
    assert_eq!(
        calls[1].query["$filter"],
        format!("teamsApp/externalId eq '{MANIFEST}'")
    );
    assert_eq!(
        calls[2].body,
        json!({"teamsApp@odata.bind": format!("{}/v1.0/appCatalogs/teamsApps/{APP}", rig.graph.base())})
    );
    assert!(calls
        .iter()
        .all(|c| c.authorization.as_deref() == Some("Bearer tok-1")));
    let token = &rig.teams.token_requests()[0];
    assert_eq!(
        token.form["scope"], "https://graph.microsoft.com/.default",
        "the cloud's Graph resource, not the emulator's URL (AADSTS70011)"
    );
    assert_eq!(token.form["grant_type"], "client_credentials");

    let row = rig.row(DANA);
    assert_eq!(row.state, "ready");
    assert_eq!(row.conversation_id.as_deref(), Some("a:1dana"));
    assert!(
        rig.teams.calls().is_empty(),
        "no conversation created: Teams named it"
    );

    // An alert reaches Dana as a card (after the welcome).
    rig.store
        .accept(
            "dc1-gw01",
            Some("Datacenter 1"),
            &[event(1, EventKind::Firing)],
        )
        .unwrap();
    let mut sender = rig.sender();
    bounded(drain(&mut sender)).await;
    let calls = rig.teams.calls();
    let posts = posts_to(&calls, "a:1dana");
    assert_eq!(posts.len(), 2, "{calls:?}");
    assert!(is_welcome(posts[0]) && is_card(posts[1], 1));

    // Idempotent: a ready user costs no Graph call on the next run.
    let before = rig.graph.calls().len();
    assert_eq!(rig.run_once().await.ready, 1);
    assert_eq!(rig.graph.calls().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_conversation_update_so_the_chat_is_looked_up_and_later_replaced() {
    let grace = Duration::from_millis(400);
    let rig = Rig::new(&[ERIN], &[], grace);
    rig.graph.add_users(&[ERIN]);
    let started = Instant::now();
    let summary = rig.run_once().await;
    assert_eq!(summary.ready, 1, "{summary:?}");
    assert!(started.elapsed() >= grace, "waited for Teams first");
    let ops: Vec<Op> = rig.graph.calls_for(ERIN).iter().map(|c| c.op).collect();
    assert_eq!(
        ops,
        [Op::List, Op::List, Op::Install, Op::List, Op::Chat],
        "the installation id is found again, then its chat"
    );
    let chat = chat_of(ERIN, APP);
    assert_eq!(
        rig.row(ERIN).conversation_id.as_deref(),
        Some(chat.as_str())
    );
    let c = rig.conversation(&chat);
    assert_eq!(c.state, ConvState::Active);
    assert!(c.welcome_pending);
    assert_eq!(c.conversation_type, "personal");
    assert_eq!(c.tenant_id.as_deref(), Some(TENANT));
    assert_eq!(c.service_url, rig.teams.service_url());
    assert_eq!(c.bot.id, BOT_ID);
    assert_eq!(
        c.user.as_ref().unwrap().aad_object_id.as_deref(),
        Some(ERIN)
    );

    let mut sender = rig.sender();
    rig.store
        .accept("dc1-gw01", Some("Site"), &[event(1, EventKind::Firing)])
        .unwrap();
    bounded(drain(&mut sender)).await;
    let calls = rig.teams.calls();
    let posts = posts_to(&calls, &chat);
    assert_eq!(posts.len(), 2, "welcome and card: {calls:?}");
    assert!(is_card(posts[1], 1));
    assert_eq!(posts[1].body["channelData"]["tenant"]["id"], TENANT);

    // Teams' conversationUpdate comes late, under its own id: that one
    // takes over (no second welcome), the Graph one retires.
    assert_eq!(
        rig.post(rig.install_activity("a:1erin", ERIN)).await,
        StatusCode::OK
    );
    assert_eq!(rig.conversation(&chat).state, ConvState::Inactive);
    assert!(!rig.conversation("a:1erin").welcome_pending);
    rig.store
        .accept("dc1-gw01", Some("Site"), &[event(2, EventKind::Firing)])
        .unwrap();
    bounded(drain(&mut sender)).await;
    let calls = rig.teams.calls();
    let new = posts_to(&calls, "a:1erin");
    assert_eq!(new.len(), 1, "only the card: {calls:?}");
    assert!(is_card(new[0], 2));
    assert!(!posts_to(&calls, &chat).iter().any(|c| is_card(c, 2)));
    assert_eq!(rig.row(ERIN).state, "ready");
    assert_eq!(rig.row(ERIN).conversation_id.as_deref(), Some("a:1erin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_means_installed() {
    let rig = Rig::new(&[FRAN], &[], Duration::from_millis(200));
    // Installed meanwhile: the listing is stale, the install answers 409.
    rig.graph.preinstall(FRAN, APP);
    let empty = || Reply::new(200, json!({"value": []}));
    rig.graph.script(FRAN, Op::List, [empty(), empty()]);
    let summary = rig.run_once().await;
    assert_eq!((summary.ready, summary.failed), (1, 0), "{summary:?}");
    let installs: Vec<u16> = rig
        .graph
        .calls_for(FRAN)
        .iter()
        .filter(|c| c.op == Op::Install)
        .map(|c| c.status)
        .collect();
    assert_eq!(installs, [409]);
    let row = rig.row(FRAN);
    assert_eq!(row.state, "ready");
    assert_eq!(row.conversation_id, Some(chat_of(FRAN, APP)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_are_reached_across_pages() {
    let rig = Rig::new(&[GUS], &[GROUP, NO_GROUP], Duration::from_millis(200));
    rig.graph.add_group(GROUP, &[GUS, HAL, IDA], 2);
    for u in [GUS, HAL, IDA] {
        rig.graph.preinstall(u, APP);
    }
    let summary = rig.run_once().await;
    assert_eq!((summary.ready, summary.failed), (3, 1), "{summary:?}");
    let pages = rig.graph.calls_for(GROUP);
    assert_eq!(pages.len(), 2, "two pages of two");
    assert_eq!(pages[0].query["$select"], "id");
    assert_eq!(pages[1].query["$skiptoken"], "2");
    // Already installed: no install, the chat straight away.
    for u in [GUS, HAL, IDA] {
        let ops: Vec<Op> = rig.graph.calls_for(u).iter().map(|c| c.op).collect();
        assert_eq!(ops, [Op::List, Op::Chat], "{u}");
        assert_eq!(rig.row(u).state, "ready");
    }
    assert_eq!(rig.row(GUS).via.as_deref(), Some("users"));
    assert_eq!(
        rig.row(HAL).via.as_deref(),
        Some(format!("group {GROUP}").as_str())
    );
    let failed = rig.row(&format!("group:{NO_GROUP}"));
    assert!(
        failed.state.starts_with("install failed: no such group"),
        "{}",
        failed.state
    );

    // What `edgetherm-relay conversations` lists.
    let AdminReply::Conversations(listing) = handle(&rig.store, Request::Conversations) else {
        panic!("a listing");
    };
    assert_eq!(listing.conversations.len(), 3);
    assert_eq!(listing.installs.len(), 4);
    assert_eq!(
        listing
            .installs
            .iter()
            .filter(|r| r.state == "ready")
            .count(),
        3
    );
}
