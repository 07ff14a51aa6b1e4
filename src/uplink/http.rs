//! One `POST {relay}/v1/events` and what its answer means for the outbox:
//! accepted, retry later, or refused in a way only a person can fix.

use std::path::Path;
use std::time::Duration;

use edgetherm_proto::{Accepted, EventBatch};

use crate::config::{RelayConfig, Secret};

/// Connect timeout: a relay that does not answer a SYN in this long is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout: batches are small, a slow uplink is still well under this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A `Retry-After` longer than this is treated as this (a relay bug must not park events for a day).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Why the uplink could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The CA file is missing or not PEM.
    #[error("cannot use [relay] ca_file {path}: {detail}")]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// reqwest could not build a client (TLS set-up).
    #[error("cannot set up the HTTPS client for the relay: {0}")]
    Build(String),
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// 2xx: these ids are the relay's now.
    Accepted(Accepted),
    /// Worth retrying as is: the relay is down, slow, overloaded or restarting.
    Retry {
        /// The relay's `Retry-After`, if it sent one.
        after: Option<Duration>,
        /// For `status` and the log.
        why: String,
    },
    /// The relay refused the batch and retrying the same request cannot fix
    /// it (bad token, schema): a person must act. Events stay in the outbox.
    Refused {
        /// HTTP status (0 when the request could not even be built).
        status: u16,
        /// For `status` and the log, with what to do.
        why: String,
    },
    /// 413: send fewer events per batch.
    TooLarge,
}

/// The HTTP client for one relay.
pub struct RelayClient {
    http: reqwest::Client,
    events_url: String,
    token: Secret,
}

impl RelayClient {
    /// Builds the client: system roots plus `ca_file`, `HTTPS_PROXY` /
    /// `HTTP_PROXY` / `NO_PROXY` from the environment, bounded timeouts.
    pub fn new(cfg: &RelayConfig) -> Result<RelayClient, ClientError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("edgetherm/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &cfg.ca_file {
            for cert in read_ca(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Build(error_chain(&e)))?;
        Ok(RelayClient {
            http,
            events_url: format!("{}/v1/events", cfg.url.trim_end_matches('/')),
            token: cfg.token.clone(),
        })
    }

    /// The URL batches go to.
    pub fn events_url(&self) -> &str {
        &self.events_url
    }

    /// Posts one batch. The token is read on every attempt, so a corrected
    /// `token_file` is picked up without a restart.
    pub async fn post(&self, batch: &EventBatch) -> Outcome {
        let token = match read_token(&self.token) {
            Ok(t) => t,
            Err(why) => return Outcome::Refused { status: 0, why },
        };
        let body = serde_json::to_vec(batch).expect("batches always serialise");
        let sent = self
            .http
            .post(&self.events_url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    after: None,
                    why: explain_transport(&e, &self.events_url),
                }
            }
        };
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        classify(status, after, &text)
    }
}

/// Maps an answer to an outcome (pure, so every branch is tested).
pub fn classify(status: u16, after: Option<Duration>, body: &str) -> Outcome {
    let said = relay_message(body);
    match status {
        200..=299 => match serde_json::from_str::<Accepted>(body) {
            Ok(a) => Outcome::Accepted(a),
            Err(e) => Outcome::Retry {
                after: None,
                why: format!("the relay answered {status} with an unexpected body ({e}): is [relay] url really an edgetherm relay?"),
            },
        },
        413 => Outcome::TooLarge,
        401 => Outcome::Refused {
            status,
            why: format!("the relay refused the gateway token (401: {said}): put the token printed by `edgetherm-relay gateway add <gateway_id>` into [relay] token_file"),
        },
        403 => Outcome::Refused {
            status,
            why: format!("the relay refused this gateway (403: {said}): the token belongs to another gateway id; check [agent] gateway_id"),
        },
        404 | 405 => Outcome::Refused {
            status,
            why: format!("the relay has no /v1/events here ({status}): [relay] url must be the relay's base URL, e.g. https://relay.example.com"),
        },
        400 | 422 => Outcome::Refused {
            status,
            why: format!("the relay rejected the batch ({status}: {said}): agent and relay versions may disagree on the wire format; upgrade the older one"),
        },
        408 | 425 | 429 | 500..=599 => Outcome::Retry {
            after: after.map(|a| a.min(MAX_RETRY_AFTER)),
            why: format!("the relay answered {status}: {said}"),
        },
        _ => Outcome::Refused {
            status,
            why: format!("the relay answered {status}: {said}"),
        },
    }
}

/// The relay's `{"error": "...", "field": "..."}`, or the start of whatever came.
fn relay_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
        #[serde(default)]
        field: Option<String>,
    }
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody {
            error,
            field: Some(f),
        }) => format!("{error} (field {f})"),
        Ok(ErrorBody { error, field: None }) => error,
        Err(_) if body.trim().is_empty() => "no details".into(),
        Err(_) => body.chars().take(200).collect(),
    }
}

/// `Retry-After` in seconds (the relay sends seconds; an HTTP date is ignored).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn read_token(secret: &Secret) -> Result<String, String> {
    let token = match secret {
        Secret::Inline(t) => t.trim().to_string(),
        Secret::File(p) => std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read [relay] token_file {}: {e}", p.display()))?
            .trim()
            .to_string(),
    };
    if token.is_empty() {
        return Err("the [relay] token is empty: put the token printed by `edgetherm-relay gateway add <gateway_id>` there".into());
    }
    if token.chars().any(|c| c.is_control() || c == ' ') {
        return Err("the [relay] token contains spaces or control characters: it must be the single line printed by `edgetherm-relay gateway add`".into());
    }
    Ok(token)
}

fn read_ca(path: &Path) -> Result<Vec<reqwest::Certificate>, ClientError> {
    let err = |detail: String| ClientError::CaFile {
        path: path.to_path_buf(),
        detail,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// A transport error with its causes and a hint for the common ones.
fn explain_transport(e: &reqwest::Error, url: &str) -> String {
    // reqwest's own message repeats the URL; its causes say what happened.
    let chain = match std::error::Error::source(e) {
        Some(cause) => error_chain(cause),
        None => e.to_string(),
    };
    let hint = if chain.contains("UnknownIssuer") || chain.contains("invalid peer certificate") {
        " — the relay's certificate is not trusted: set [relay] ca_file to its CA (PEM)"
    } else if chain.contains("Connection refused") {
        " — nothing listens there: is the relay running, and the URL right?"
    } else if e.is_timeout() {
        " — no answer in time: is the relay or a firewall dropping packets?"
    } else if chain.contains("dns error") || chain.contains("failed to lookup") {
        " — the relay's host name does not resolve"
    } else {
        ""
    };
    format!("cannot reach the relay at {url}: {chain}{hint}")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_answers_parse() {
        let out = classify(200, None, r#"{"accepted":["a","b"]}"#);
        let Outcome::Accepted(a) = out else {
            panic!("{out:?}")
        };
        assert_eq!(a.accepted, vec!["a", "b"]);
        assert!(a.tests.is_empty());
    }

    #[test]
    fn a_2xx_with_a_foreign_body_is_retried_not_trusted() {
        assert!(matches!(
            classify(200, None, "<html>captive portal</html>"),
            Outcome::Retry { .. }
        ));
    }

    #[test]
    fn overload_and_outages_are_retried_with_retry_after() {
        for status in [429, 503, 502, 504, 500, 408] {
            let out = classify(status, Some(Duration::from_secs(7)), r#"{"error":"busy"}"#);
            assert_eq!(
                out,
                Outcome::Retry {
                    after: Some(Duration::from_secs(7)),
                    why: format!("the relay answered {status}: busy")
                }
            );
        }
        let Outcome::Retry { after, .. } = classify(503, Some(Duration::from_secs(86_400)), "")
        else {
            panic!()
        };
        assert_eq!(after, Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn refusals_say_what_to_fix() {
        let Outcome::Refused { status, why } =
            classify(401, None, r#"{"error":"unknown gateway token"}"#)
        else {
            panic!()
        };
        assert_eq!(status, 401);
        assert!(
            why.contains("token_file") && why.contains("unknown gateway token"),
            "{why}"
        );
        let Outcome::Refused { why, .. } = classify(
            400,
            None,
            r#"{"error":"invalid event batch: unknown variant","field":"events[0].kind"}"#,
        ) else {
            panic!()
        };
        assert!(why.contains("events[0].kind"), "{why}");
        let Outcome::Refused { why, .. } = classify(404, None, "") else {
            panic!()
        };
        assert!(why.contains("base URL"), "{why}");
        assert_eq!(classify(413, None, ""), Outcome::TooLarge);
    }

    #[test]
    fn tokens_are_checked_before_use() {
        assert_eq!(
            read_token(&Secret::Inline(" etg_abc\n".into())).unwrap(),
            "etg_abc"
        );
        assert!(read_token(&Secret::Inline("  ".into())).is_err());
        assert!(read_token(&Secret::Inline("two words".into())).is_err());
        let err = read_token(&Secret::File("/nonexistent/relay.token".into())).unwrap_err();
        assert!(err.contains("/nonexistent/relay.token"), "{err}");
    }
}
