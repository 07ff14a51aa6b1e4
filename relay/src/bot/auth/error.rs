//! Why a request from the connector was refused.

use super::BOT_FRAMEWORK_ISSUER;

/// Why a request was refused. The messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// An `Authorization` header with another scheme than `Bearer`.
    #[error("the Authorization header is not a Bearer token")]
    NotBearer,
    /// Not a well-formed JWT (or claims of the wrong type).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The token's `kid` is not in the key set of its issuer.
    #[error("token signed with unknown key id {0:?}")]
    UnknownKey(String),
    /// The signature does not verify with the published key.
    #[error("token signature does not verify")]
    Signature,
    /// `exp` is more than 5 minutes in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` is more than 5 minutes in the future.
    #[error("token not yet valid (nbf in the future)")]
    NotYetValid,
    /// `iss` is neither the Bot Framework's nor (with `[bot] tenant_id`) one
    /// of the tenant's Entra issuers.
    #[error(
        "token issuer {0:?} is not {BOT_FRAMEWORK_ISSUER} nor an Entra issuer of [bot] tenant_id"
    )]
    Issuer(String),
    /// An Entra token whose `tid` claim is another tenant.
    #[error("token tenant (tid) {0:?} is not [bot] tenant_id")]
    Tenant(String),
    /// An Entra signing key that its JWKS publishes for another issuer.
    #[error("the signing key is published for issuer {0:?}, not for [bot] tenant_id")]
    KeyIssuer(String),
    /// `aud` is not the bot's app id.
    #[error("token audience {0:?} is not this bot's app id")]
    Audience(String),
    /// The `serviceurl` claim differs from the activity's `serviceUrl`.
    #[error(
        "token serviceurl claim {claim:?} does not match the activity's serviceUrl {activity:?}"
    )]
    ServiceUrl {
        /// The claim (excerpt), or `<missing>`.
        claim: String,
        /// The activity's `serviceUrl` (excerpt).
        activity: String,
    },
    /// The signing key's endorsements do not include the activity's channel.
    #[error("the signing key is not endorsed for channel {channel:?}")]
    NotEndorsed {
        /// The activity's `channelId` (excerpt).
        channel: String,
    },
    /// The header's `alg` is not RS256.
    #[error("token algorithm {0:?} is not RS256")]
    Algorithm(String),
    /// A key set (its OpenID metadata or JWKS) could not be fetched or used.
    #[error("cannot get the {set} signing keys: {detail}")]
    Keys {
        /// Whose keys: `Bot Framework` or `Entra`.
        set: &'static str,
        /// What went wrong.
        detail: String,
    },
}
