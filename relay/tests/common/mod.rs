//! Shared by the relay's integration tests: fakes of what surrounds the
//! relay (Microsoft's side of Teams, a gateway) and a harness for the relay
//! binary as a process. Each `tests/*.rs` is its own crate that declares
//! `mod common;`.

// Each test binary uses only a subset of these helpers; the rest would be
// reported as dead code in every binary that leaves it out.
#![allow(dead_code)]

pub mod agent_proc;
pub mod chaos;
pub mod event_line;
pub mod events;
pub mod fake_graph;
pub mod fake_login;
pub mod fake_teams;
pub mod fleet;
pub mod gateway_api;
pub mod graph_rig;
pub mod http;
pub mod postgres;
pub mod relay_proc;
pub mod store;
pub mod teams_client;
pub mod teams_replies;
pub mod teams_verdict;
