//! Authentication of requests from the Bot Framework connector to the bot
//! ("Authentication with the Bot Connector API", connector → bot):
//!
//! 1. the request carries `Authorization: Bearer <jwt>`;
//! 2. the JWT is signed with RS256 by a key its issuer publishes: the Bot
//!    Framework's JWKS (found through its OpenID metadata) for
//!    `https://api.botframework.com`; with `[bot] tenant_id`, also the
//!    tenant's Entra JWKS for the tenant's Entra issuers ([`EntraTenant`]).
//!    A key of one set never validates a token that names the other issuer;
//! 3. `iss` is one of those, `aud` is the bot's app id, `exp`/`nbf` hold
//!    (5 minutes of clock skew allowed), and an Entra token's `tid`, if
//!    any, is the tenant;
//! 4. the `serviceurl` claim matches the activity's `serviceUrl` (Entra
//!    tokens may lack the claim; if they carry it, it must match);
//! 5. if the signing key lists `endorsements`, they include the activity's
//!    `channelId`.
//!
//! Nothing here logs or reports the token itself; error messages name what
//! failed, with at most short excerpts of the claims that failed.

mod entra;
mod error;
mod jwt;
mod keys;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

pub use entra::EntraTenant;
pub use error::AuthError;

use jwt::{check_header, claim_excerpt, excerpt, map_jwt_error, same_service_url};
use keys::{KeySource, Location, SigningKey};

/// The issuer of the Bot Framework's own connector → bot tokens.
pub const BOT_FRAMEWORK_ISSUER: &str = "https://api.botframework.com";
/// Allowed clock skew for `exp` and `nbf`.
const LEEWAY: Duration = Duration::from_secs(5 * 60);

/// Which issuer (and so which key set) a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Issuer {
    BotFramework,
    Entra,
}

/// A token whose signature, validity, issuer and audience hold; what is
/// left to check needs the activity (`check_activity`).
pub struct Verified {
    claims: Map<String, Value>,
    signing: Arc<SigningKey>,
    issuer: Issuer,
}

impl Verified {
    /// The checks that need the activity: the signing key's endorsements
    /// include its `channelId`, and the `serviceurl` claim is its `serviceUrl`.
    pub fn check_activity(&self, service_url: &str, channel_id: &str) -> Result<(), AuthError> {
        if let Some(endorsements) = &self.signing.endorsements {
            if channel_id.is_empty() || !endorsements.iter().any(|e| e == channel_id) {
                return Err(AuthError::NotEndorsed {
                    channel: excerpt(channel_id),
                });
            }
        }
        let claim = self
            .claims
            .get("serviceurl")
            .or_else(|| self.claims.get("serviceUrl"));
        match claim {
            Some(Value::String(c)) if same_service_url(c, service_url) => Ok(()),
            // As in the Agents SDK: Entra does not put the claim in every token.
            None if self.issuer == Issuer::Entra => Ok(()),
            other => Err(AuthError::ServiceUrl {
                claim: claim_excerpt(other),
                activity: excerpt(service_url),
            }),
        }
    }
}

/// Validates connector tokens; caches each issuer's signing keys.
pub struct BotAuth {
    app_id: String,
    bot_framework: KeySource,
    /// With `[bot] tenant_id`: the tenant's Entra issuers and keys.
    entra: Option<(EntraTenant, KeySource)>,
}

impl BotAuth {
    /// `metadata_url`: the OpenID metadata document (public cloud:
    /// <https://login.botframework.com/v1/.well-known/openidconfiguration>);
    /// `app_id`: the bot's Microsoft app id (the token audience).
    pub fn new(http: reqwest::Client, metadata_url: String, app_id: String) -> BotAuth {
        BotAuth {
            app_id,
            bot_framework: KeySource::new("Bot Framework", Location::Metadata(metadata_url), http),
            entra: None,
        }
    }

    /// Also trusts the Entra-issued tokens of one tenant (single-tenant bots).
    pub fn trust_tenant(mut self, tenant: EntraTenant) -> BotAuth {
        let http = self.bot_framework.http().clone();
        let keys = KeySource::new("Entra", Location::Jwks(tenant.keys_url.clone()), http);
        self.entra = Some((tenant, keys));
        self
    }

    /// As `[bot]` says: the cloud's (or the overridden) metadata, and the
    /// Entra issuers of `tenant_id` when it is set.
    pub fn from_config(http: reqwest::Client, bot: &crate::config::Bot) -> BotAuth {
        let auth = BotAuth::new(http, bot.openid_metadata_url(), bot.app_id.clone());
        match &bot.tenant_id {
            Some(t) => auth.trust_tenant(EntraTenant::new(bot.cloud, &bot.login_url(), t)),
            None => auth,
        }
    }

    /// Checks `Authorization: Bearer <jwt>` for an activity from
    /// `service_url` on `channel_id`.
    pub async fn validate(
        &self,
        authorization: Option<&str>,
        service_url: &str,
        channel_id: &str,
    ) -> Result<(), AuthError> {
        self.verify(authorization)
            .await?
            .check_activity(service_url, channel_id)
    }

    /// Checks the token itself: scheme, signature, validity period, issuer
    /// and audience. Needs nothing from the activity, so a request is judged
    /// by its token before its body is even read.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Verified, AuthError> {
        let authorization = authorization.map(str::trim).unwrap_or("");
        if authorization.is_empty() {
            return Err(AuthError::Missing);
        }
        let (scheme, token) = authorization
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((authorization, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::NotBearer);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Malformed("empty bearer token".into()));
        }
        let kid = check_header(token)?;

        // The claimed issuer picks the only key set that may sign the token;
        // an issuer we do not trust costs no key fetch.
        let (issuer, source) = self.issuer_of(&jwt::unverified_claims(token)?)?;
        let signing = source.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // iss and aud are checked below, to report what was found.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &signing.key, &validation)
            .map_err(|e| map_jwt_error(e, source.set))?
            .claims;

        // Decided again on the signed claims, which alone are trusted.
        if self.issuer_of(&claims)?.0 != issuer {
            return Err(AuthError::Issuer(claim_excerpt(claims.get("iss"))));
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.app_id,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&self.app_id)),
            _ => false,
        };
        if !audience_ok {
            return Err(AuthError::Audience(claim_excerpt(claims.get("aud"))));
        }
        if let (Issuer::Entra, Some((tenant, _))) = (issuer, &self.entra) {
            check_entra(tenant, &claims, &signing)?;
        }
        Ok(Verified {
            claims,
            signing,
            issuer,
        })
    }

    /// The issuer `iss` names, if we trust it, and the keys it signs with.
    fn issuer_of(&self, claims: &Map<String, Value>) -> Result<(Issuer, &KeySource), AuthError> {
        let iss = claims.get("iss");
        match (iss, &self.entra) {
            (Some(Value::String(i)), _) if i == BOT_FRAMEWORK_ISSUER => {
                Ok((Issuer::BotFramework, &self.bot_framework))
            }
            (Some(Value::String(i)), Some((tenant, keys))) if tenant.issues(i) => {
                Ok((Issuer::Entra, keys))
            }
            _ => Err(AuthError::Issuer(claim_excerpt(iss))),
        }
    }
}

/// What Entra tokens owe besides the common checks: a `tid` claim, if any,
/// names the tenant, and a key that its JWKS publishes for an issuer (the
/// `{tenantid}` placeholder standing for the tenant) is published for it.
fn check_entra(
    tenant: &EntraTenant,
    claims: &Map<String, Value>,
    signing: &SigningKey,
) -> Result<(), AuthError> {
    match claims.get("tid") {
        None => {}
        Some(Value::String(tid)) if tid.eq_ignore_ascii_case(&tenant.tenant_id) => {}
        other => return Err(AuthError::Tenant(claim_excerpt(other))),
    }
    if let Some(key_issuer) = &signing.issuer {
        let named = key_issuer.replace("{tenantid}", &tenant.tenant_id);
        if !tenant.issues(&named) {
            return Err(AuthError::KeyIssuer(excerpt(key_issuer)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
