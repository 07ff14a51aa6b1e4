//! `[agent]`, `[buffer]`, `[relay]` and `[mqtt]`.

use std::path::PathBuf;
use std::time::Duration;

use super::files::Holds;
use super::walker::{Ctx, Fields};
use super::{AgentConfig, BufferConfig, MqttConfig, RelayConfig, Secret};

const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

pub fn agent(ctx: &mut Ctx<'_>, top: &mut Fields<'_, '_>) -> AgentConfig {
    let mut out = AgentConfig {
        gateway_id: host_name(),
        site: None,
        data_dir: PathBuf::from("/var/lib/edgetherm"),
        sysfs_root: PathBuf::from("/"),
        log_level: None,
    };
    let Some(mut t) = top.table(ctx, "agent") else {
        return out;
    };
    if let Some(id) = t.string(ctx, "gateway_id") {
        if valid_id(&id.value) {
            out.gateway_id = id.value;
        } else {
            ctx.error(&id.span, &t.name("gateway_id"), format!("expected an id of letters, digits, '_', '.' or '-' (1 to 64 characters), found {:?}", id.value));
        }
    }
    out.site = t.string(ctx, "site").map(|s| s.value);
    if let Some(d) = t.string(ctx, "data_dir") {
        out.data_dir = PathBuf::from(d.value);
    }
    if let Some(d) = t.string(ctx, "sysfs_root") {
        out.sysfs_root = PathBuf::from(d.value);
    }
    out.log_level = t.choice(ctx, "log_level", LOG_LEVELS).map(|l| l.value);
    t.finish(ctx, "[agent]");
    out
}

pub fn buffer(ctx: &mut Ctx<'_>, top: &mut Fields<'_, '_>) -> BufferConfig {
    let mut out = BufferConfig {
        retention: Duration::from_secs(7 * 86_400),
        max_disk: 256 << 20,
        flush_interval: Duration::from_secs(60),
    };
    let Some(mut t) = top.table(ctx, "buffer") else {
        return out;
    };
    if let Some(r) = t.duration(ctx, "retention") {
        if r.value < Duration::from_secs(60) {
            ctx.error(&r.span, &t.name("retention"), "expected at least \"1m\"");
        } else {
            out.retention = r.value;
        }
    }
    if let Some(m) = t.size(ctx, "max_disk") {
        if m.value < 1 << 20 {
            ctx.error(
                &m.span,
                &t.name("max_disk"),
                "expected at least \"1MiB\" (the store needs room for its own structures)",
            );
        } else {
            out.max_disk = m.value;
        }
    }
    if let Some(f) = t.duration(ctx, "flush_interval") {
        if f.value < Duration::from_millis(100) || f.value > Duration::from_secs(3600) {
            ctx.error(
                &f.span,
                &t.name("flush_interval"),
                "expected between \"100ms\" and \"1h\"",
            );
        } else {
            out.flush_interval = f.value;
        }
    }
    t.finish(ctx, "[buffer]");
    out
}

/// Reads `key` or `key_file` (not both) as a secret.
fn secret(
    ctx: &mut Ctx<'_>,
    t: &mut Fields<'_, '_>,
    key: &'static str,
    file_key: &'static str,
    holds: Holds,
) -> Option<Secret> {
    let inline = t.string(ctx, key);
    let file = t.string(ctx, file_key);
    if let (None, Some(f)) = (&inline, &file) {
        ctx.name_file(&f.span, &t.name(file_key), &f.value, holds);
    }
    match (inline, file) {
        (Some(_), Some(f)) => {
            ctx.error(
                &f.span,
                &t.name(file_key),
                format!("expected either `{key}` or `{file_key}`, not both"),
            );
            None
        }
        (Some(i), None) => Some(Secret::Inline(i.value)),
        (None, Some(f)) => Some(Secret::File(PathBuf::from(f.value))),
        (None, None) => None,
    }
}

/// Reads `key` as the path of a file that must hold `holds` (checked later, in files.rs).
fn file(
    ctx: &mut Ctx<'_>,
    t: &mut Fields<'_, '_>,
    key: &'static str,
    holds: Holds,
) -> Option<PathBuf> {
    let f = t.string(ctx, key)?;
    ctx.name_file(&f.span, &t.name(key), &f.value, holds);
    Some(PathBuf::from(f.value))
}

/// True for `https://` URLs, and `http://` ones on a loopback host.
pub fn secure_or_loopback(url: &str) -> bool {
    if url.starts_with("https://") {
        return url.len() > "https://".len();
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = host_of(rest);
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

fn host_of(after_scheme: &str) -> &str {
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or(authority)
    }
}

pub fn relay(ctx: &mut Ctx<'_>, top: &mut Fields<'_, '_>) -> Option<RelayConfig> {
    let mut t = top.table(ctx, "relay")?;
    let url = t.required_string(
        ctx,
        "url",
        "the relay's base URL, e.g. \"https://relay.example.com\"",
    );
    let token = secret(ctx, &mut t, "token", "token_file", Holds::Token);
    let heartbeat = t
        .duration(ctx, "heartbeat")
        .map_or(Duration::from_secs(60), |h| h.value);
    let ca_file = file(ctx, &mut t, "ca_file", Holds::CaCertificates);
    if token.is_none() && !t.has("token") && !t.has("token_file") {
        let span = t.span();
        ctx.error(&span, &t.name("token_file"), "missing: the gateway token (`token_file = \"/etc/edgetherm/relay.token\"`, as printed by `edgetherm-relay gateway add`)");
    }
    let url = url.and_then(|u| {
        if secure_or_loopback(&u.value) {
            Some(u.value.trim_end_matches('/').to_string())
        } else {
            ctx.error(&u.span, &t.name("url"), format!("expected an https:// URL (http:// only for 127.0.0.1, [::1] or localhost, so the token never travels in clear), found {:?}", u.value));
            None
        }
    });
    t.finish(ctx, "[relay]");
    Some(RelayConfig {
        url: url?,
        token: token?,
        heartbeat,
        ca_file,
    })
}

pub fn mqtt(ctx: &mut Ctx<'_>, top: &mut Fields<'_, '_>, gateway_id: &str) -> Option<MqttConfig> {
    let mut t = top.table(ctx, "mqtt")?;
    let url = t.required_string(ctx, "url", "the broker URL, e.g. \"mqtt://127.0.0.1:1883\"");
    let url = url.and_then(|u| {
        let ok = ["mqtt://", "mqtts://"]
            .iter()
            .any(|s| u.value.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
        if ok {
            Some(u.value)
        } else {
            ctx.error(
                &u.span,
                &t.name("url"),
                format!(
                    "expected a URL like \"mqtt://host:1883\" or \"mqtts://host:8883\", found {:?}",
                    u.value
                ),
            );
            None
        }
    });
    let username = t.string(ctx, "username").map(|u| u.value);
    let password = secret(ctx, &mut t, "password", "password_file", Holds::Password);
    let ca_file = file(ctx, &mut t, "ca_file", Holds::CaCertificates);
    let client_cert_file = file(ctx, &mut t, "client_cert_file", Holds::Certificate);
    let client_key_file = file(ctx, &mut t, "client_key_file", Holds::PrivateKey);
    if client_cert_file.is_some() != client_key_file.is_some() {
        let span = t.span();
        ctx.error(&span, &t.name("client_key_file"), "expected both `client_cert_file` and `client_key_file` for a client certificate, or neither");
    }
    let client_id = t
        .string(ctx, "client_id")
        .map_or_else(|| format!("edgetherm-{gateway_id}"), |c| c.value);
    let keep_alive = t
        .duration(ctx, "keep_alive")
        .map_or(Duration::from_secs(60), |k| k.value);
    t.finish(ctx, "[mqtt]");
    Some(MqttConfig {
        url: url?,
        username,
        password,
        ca_file,
        client_cert_file,
        client_key_file,
        client_id,
        keep_alive,
    })
}

/// Gateway ids: letters, digits, `_`, `.`, `-`, at most 64.
fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// This machine's host name, for the default gateway id.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| valid_id(h))
        .unwrap_or_else(|| "edgetherm".to_string())
}

#[cfg(test)]
mod tests {
    use super::secure_or_loopback;

    #[test]
    fn url_security() {
        assert!(secure_or_loopback("https://relay.example.com"));
        assert!(secure_or_loopback("http://127.0.0.1:3978"));
        assert!(secure_or_loopback("http://[::1]:3978/"));
        assert!(secure_or_loopback("http://localhost"));
        assert!(!secure_or_loopback("http://relay.example.com"));
        assert!(!secure_or_loopback("http://127.0.0.1.evil.com"));
        assert!(!secure_or_loopback("http://localhost@evil.com"));
        assert!(!secure_or_loopback("ftp://127.0.0.1"));
        assert!(!secure_or_loopback("https://"));
    }
}
