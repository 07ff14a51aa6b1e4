//! `kind = "mqtt"` sensors: one broker connection per agent, readings into
//! the same channel as polled sensors.

mod client;
pub mod discover;
pub mod payload;
mod route;
mod tls;
pub mod topic;

pub use client::{run, MqttStatus, StatusCell};
pub use route::Router;
pub use tls::{client_config, TlsError};
