//! Single-tenant bots: besides the Bot Framework's own tokens, the
//! Microsoft 365 Agents SDK accepts tokens that Entra ID issues for the
//! bot's tenant, and new Azure bots (single-tenant or user-assigned managed
//! identity, since 31 July 2025) may be sent those.
//!
//! The issuers are the strings Microsoft writes into such tokens, so they
//! follow the cloud, never `login_url` (an override pointing at a proxy or a
//! test fake does not change what Entra signs). The keys are fetched from
//! `{login_url}/{tenant}/discovery/v2.0/keys`, so tests and emulators can
//! serve them.

use crate::config::{Cloud, Guid};

/// The Entra issuers and key set of one tenant.
#[derive(Debug, Clone)]
pub struct EntraTenant {
    /// The tenant id (a GUID, lower case).
    pub tenant_id: String,
    /// Every `iss` accepted for the tenant.
    pub issuers: Vec<String>,
    /// The tenant's JWKS.
    pub keys_url: String,
}

impl EntraTenant {
    /// The issuers of `tenant_id` in `cloud`: v1 tokens
    /// `https://sts.windows.net/{tenant}/`, v2 tokens
    /// `https://login.microsoftonline.com/{tenant}/v2.0` (`.us` in GCC High
    /// and DoD, where v1 tokens may also name `login.microsoftonline.us`);
    /// keys from `{login_url}/{tenant}/discovery/v2.0/keys`.
    pub fn new(cloud: Cloud, login_url: &str, tenant_id: &str) -> EntraTenant {
        let tenant = match Guid::parse(tenant_id) {
            Ok(g) => g.to_string(),
            Err(_) => {
                // Tokens name the tenant by its GUID, so a domain name here
                // matches none of them; sending may still work with it.
                tracing::warn!(
                    tenant_id,
                    "[bot] tenant_id is not a GUID: Entra-issued tokens (single-tenant bots) \
                     will be refused; use the App Tenant ID"
                );
                tenant_id.trim().to_string()
            }
        };
        let mut issuers = vec![format!("https://sts.windows.net/{tenant}/")];
        match cloud {
            Cloud::Public | Cloud::Gcc => {
                issuers.push(format!("https://login.microsoftonline.com/{tenant}/v2.0"));
            }
            Cloud::Gcch | Cloud::Dod => {
                issuers.push(format!("https://login.microsoftonline.us/{tenant}/"));
                issuers.push(format!("https://login.microsoftonline.us/{tenant}/v2.0"));
            }
        }
        let keys_url = format!(
            "{}/{tenant}/discovery/v2.0/keys",
            login_url.trim_end_matches('/')
        );
        EntraTenant {
            tenant_id: tenant,
            issuers,
            keys_url,
        }
    }

    /// True when `iss` is one of the tenant's issuers (exactly).
    pub fn issues(&self, iss: &str) -> bool {
        self.issuers.iter().any(|i| i == iss)
    }
}
