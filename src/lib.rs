//! edgetherm: temperature alerting that lives on the gateway.
//!
//! Data flows one way: `sources` → readings → `rules` → events → `outbox`
//! (in the `store`) → sinks (the log today, the relay uplink later).

pub mod config;
pub mod reading;
pub mod store;
pub mod clock;
pub mod rules;
pub mod control;
pub mod outbox;
pub mod run;
pub mod cli;
pub mod sources;
pub mod scan;
