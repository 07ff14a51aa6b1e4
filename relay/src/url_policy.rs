//! Where tokens may be sent: every Microsoft endpoint, service URL and key
//! document is fetched over https, except on loopback, where tests and local
//! emulators speak plain http. Shared by the bot's key fetches and the Teams
//! and Graph clients, so none of them depends on another for it.

/// An http:// URL is accepted only for loopback hosts (127.0.0.1, [::1],
/// localhost); everything else must be https://.
pub fn secure_or_loopback(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    match u.scheme() {
        "https" => u.host_str().is_some_and(|h| !h.is_empty()),
        "http" => matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::secure_or_loopback;

    #[test]
    fn secure_or_loopback_rules() {
        for ok in [
            "https://login.botframework.com/v1/.well-known/openidconfiguration",
            "https://smba.trafficmanager.net/emea/",
            "HTTPS://Example.COM",
            "http://127.0.0.1:8080/keys",
            "http://[::1]:3978/",
            "http://localhost/x",
            "http://LOCALHOST:1/",
        ] {
            assert!(secure_or_loopback(ok), "{ok}");
        }
        for bad in [
            "http://login.botframework.com/v1/.well-known/openidconfiguration",
            "http://127.0.0.1.evil.com/",
            "http://localhost@evil.com/",
            "http://localhost.evil.com/",
            "http://evil.com/?http://127.0.0.1",
            "http://10.0.0.1/",
            "ftp://localhost/",
            "file:///etc/passwd",
            "https://",
            "not a url",
            "",
        ] {
            assert!(!secure_or_loopback(bad), "{bad}");
        }
    }
}
