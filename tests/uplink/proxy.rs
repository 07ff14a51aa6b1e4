//! Proxies from the environment. reqwest's matcher (hyper-util) has no
//! built-in loopback exemption: with `HTTP_PROXY` set and `NO_PROXY` empty,
//! even `http://127.0.0.1` goes through the proxy, so it can be tested on
//! loopback. `NO_PROXY` turns that off, and `HTTPS_PROXY` is for https://
//! relay URLs only. Every other test's agent runs with these variables
//! removed (see agent.rs).

use crate::agent::Agent;
use crate::common::PATIENCE;
use crate::forward_proxy::{ForwardProxy, VIA};
use crate::{hot_rule, points, sim, Rig, TOKEN};

fn rig() -> Rig {
    Rig::new(
        "",
        "30s",
        &(sim("probe", &points(&[(0.0, 20.0), (1.0, 35.0)])) + &hot_rule("probe-hot", "probe")),
    )
}

/// Starts the agent with `env`, waits for its firing to be accepted.
fn deliver(rig: &Rig, env: &[(&str, &str)]) -> Agent {
    let mut agent = Agent::start_with_env(&rig.s, env);
    let firing = agent.wait_events(1, PATIENCE).remove(0);
    rig.relay.wait("the firing accepted", PATIENCE, |reqs| {
        reqs.iter()
            .any(|r| r.accepted().iter().any(|i| i == firing.id()))
            .then_some(())
    });
    rig.s.wait_status("an empty outbox", |s| s["outbox"] == 0);
    agent
}

#[test]
fn http_proxy_carries_the_batches() {
    let proxy = ForwardProxy::start();
    let rig = rig();
    let purl = proxy.url();
    let _agent = deliver(
        &rig,
        &[("HTTP_PROXY", &purl), ("NO_PROXY", ""), ("no_proxy", "")],
    );
    let want = format!("POST {}", rig.relay.events_url());
    let seen = proxy.seen();
    assert!(
        seen.contains(&want),
        "absolute-form {want:?} at the proxy, got {seen:?}"
    );
    for r in rig.relay.requests() {
        assert_eq!(
            r.header("via"),
            Some(VIA),
            "every batch came through the proxy"
        );
        assert_eq!(r.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
    }
}

#[test]
fn no_proxy_bypasses_it() {
    let proxy = ForwardProxy::start();
    let rig = rig();
    let purl = proxy.url();
    let _agent = deliver(&rig, &[("HTTP_PROXY", &purl), ("NO_PROXY", "127.0.0.1")]);
    assert_eq!(proxy.seen(), Vec::<String>::new());
    assert!(rig
        .relay
        .requests()
        .iter()
        .all(|r| r.header("via").is_none()));
}

#[test]
fn https_proxy_is_not_used_for_an_http_relay_url() {
    let proxy = ForwardProxy::start();
    let rig = rig();
    let purl = proxy.url();
    let _agent = deliver(&rig, &[("HTTPS_PROXY", &purl), ("NO_PROXY", "")]);
    assert_eq!(proxy.seen(), Vec::<String>::new());
    assert!(rig
        .relay
        .requests()
        .iter()
        .all(|r| r.header("via").is_none()));
}
