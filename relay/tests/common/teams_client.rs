//! The relay's own Teams client (token source, Bot Connector client) pointed
//! at a [`FakeTeams`], for tests that drive it in-process, with a realistic
//! app registration: GUIDs, and a secret that needs form encoding.

use std::sync::Arc;

use edgetherm_relay::teams::connector::Connector;
use edgetherm_relay::teams::token::TokenSource;

use super::fake_teams::FakeTeams;

/// A tenant id as Azure shows it.
pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The bot's app (client) id.
pub const APP_ID: &str = "00000000-1111-2222-3333-444444444444";
/// The client secret: characters that need form encoding.
pub const SECRET: &str = "s3cr+t/=&?~ é%";
/// The Bot Framework scope the relay asks tokens for.
pub const SCOPE: &str = "https://api.botframework.com/.default";

/// An HTTP client like the relay's (rustls with ring installed).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A token source for `APP_ID` in `TENANT_ID`, fetching from `fake`.
pub fn tokens(fake: &FakeTeams) -> Arc<TokenSource> {
    Arc::new(TokenSource::new(
        client(),
        fake.token_url(TENANT_ID),
        APP_ID.into(),
        SECRET.into(),
        SCOPE.into(),
    ))
}

/// A Bot Connector client whose tokens come from `fake`.
pub fn connector(fake: &FakeTeams) -> Connector {
    Connector::new(client(), tokens(fake))
}
