//! `[bot]`: the Azure bot's identity, and the Microsoft endpoints of its
//! cloud (public, GCC, GCC High, DoD), each of which can be overridden.

use std::path::PathBuf;

use serde::Deserialize;

/// `[bot]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bot {
    /// The bot's Microsoft app id (the token audience).
    pub app_id: String,
    /// File holding the app's client secret (for sending; not used yet).
    #[serde(default)]
    pub app_secret_file: Option<PathBuf>,
    /// The tenant (single-tenant registration).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Which Microsoft cloud: presets for the URLs below.
    #[serde(default)]
    pub cloud: Cloud,
    /// Token authority base URL.
    #[serde(default)]
    pub login_url: Option<String>,
    /// OpenID metadata for inbound token validation.
    #[serde(default)]
    pub openid_metadata_url: Option<String>,
    /// Default Bot Connector service URL.
    #[serde(default)]
    pub service_url: Option<String>,
    /// Microsoft Graph base URL.
    #[serde(default)]
    pub graph_url: Option<String>,
    /// The scope asked for Graph tokens (default: the cloud's Graph
    /// resource, whatever `graph_url` says: an emulator or proxy URL is not
    /// a resource Azure AD knows).
    #[serde(default)]
    pub graph_scope: Option<String>,
    /// Accept activities without a valid token (local development only).
    #[serde(default)]
    pub allow_unauthenticated: bool,
}

/// The Microsoft cloud the bot lives in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// Commercial.
    #[default]
    Public,
    /// Government Community Cloud.
    Gcc,
    /// GCC High.
    Gcch,
    /// Department of Defense.
    Dod,
}

impl Bot {
    /// The OpenID metadata URL: the override, or the cloud's.
    pub fn openid_metadata_url(&self) -> String {
        self.openid_metadata_url.clone().unwrap_or_else(|| {
            match self.cloud {
                Cloud::Public | Cloud::Gcc => {
                    "https://login.botframework.com/v1/.well-known/openidconfiguration"
                }
                Cloud::Gcch | Cloud::Dod => {
                    "https://login.botframework.azure.us/v1/.well-known/openidconfiguration"
                }
            }
            .to_string()
        })
    }

    /// The token authority: the override, or the cloud's.
    pub fn login_url(&self) -> String {
        self.login_url.clone().unwrap_or_else(|| {
            match self.cloud {
                Cloud::Public | Cloud::Gcc => "https://login.microsoftonline.com",
                Cloud::Gcch | Cloud::Dod => "https://login.microsoftonline.us",
            }
            .to_string()
        })
    }

    /// The default service URL: the override, or the cloud's.
    pub fn service_url(&self) -> String {
        self.service_url.clone().unwrap_or_else(|| {
            match self.cloud {
                Cloud::Public => "https://smba.trafficmanager.net/teams/",
                Cloud::Gcc => "https://smba.infra.gcc.teams.microsoft.com/teams",
                Cloud::Gcch => "https://smba.infra.gov.teams.microsoft.us/teams",
                Cloud::Dod => "https://smba.infra.dod.teams.microsoft.us/teams",
            }
            .to_string()
        })
    }

    /// The scope of Graph tokens: the override, or the cloud's Graph resource.
    pub fn graph_scope(&self) -> String {
        self.graph_scope.clone().unwrap_or_else(|| {
            match self.cloud {
                Cloud::Public | Cloud::Gcc => "https://graph.microsoft.com/.default",
                Cloud::Gcch => "https://graph.microsoft.us/.default",
                Cloud::Dod => "https://dod-graph.microsoft.us/.default",
            }
            .to_string()
        })
    }

    /// The scope of Bot Connector tokens, by cloud (US government clouds
    /// have their own Bot Framework resource).
    pub fn connector_scope(&self) -> String {
        match self.cloud {
            Cloud::Public | Cloud::Gcc => "https://api.botframework.com/.default",
            Cloud::Gcch | Cloud::Dod => "https://api.botframework.us/.default",
        }
        .to_string()
    }

    /// The Graph base URL: the override, or the cloud's.
    pub fn graph_url(&self) -> String {
        self.graph_url.clone().unwrap_or_else(|| {
            match self.cloud {
                Cloud::Public | Cloud::Gcc => "https://graph.microsoft.com",
                Cloud::Gcch => "https://graph.microsoft.us",
                Cloud::Dod => "https://dod-graph.microsoft.us",
            }
            .to_string()
        })
    }
}
