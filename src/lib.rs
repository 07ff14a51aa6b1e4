//! edgetherm: temperature alerting that lives on the gateway.
//!
//! Data flows one way: `sources` → readings → `rules` → events → `outbox`
//! (in the `store`) → sinks (the log, and the relay `uplink`).

pub mod backoff;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod mqtt;
pub mod outbox;
pub mod reading;
pub mod rules;
pub mod run;
pub mod scan;
pub mod sources;
pub mod store;
pub mod uplink;
