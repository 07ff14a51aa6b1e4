//! The Teams bot: inbound activities (`/api/messages`) and their authentication.

pub mod activity;
pub mod auth;
pub mod messages;
pub mod replies;
