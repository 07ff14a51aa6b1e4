//! Microsoft Teams delivery: access tokens and the Bot Connector REST API.

pub mod card;
pub mod commands;
pub mod connector;
pub mod ratelimit;
pub mod response;
pub mod token;
