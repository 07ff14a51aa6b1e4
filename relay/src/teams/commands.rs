//! Text commands in a chat with the bot: `help`, `status`,
//! `subscribe PATTERN`, `unsubscribe [PATTERN]`, `mute PATTERN DURATION`.

use std::time::Duration;

/// The longest pattern accepted.
pub const MAX_PATTERN_CHARS: usize = 200;
/// The shortest mute.
pub const MIN_MUTE: Duration = Duration::from_secs(60);
/// The longest mute: 30 days.
pub const MAX_MUTE: Duration = Duration::from_secs(30 * 86_400);

/// A parsed chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `help` (also `?`, `hi`, `hello`, or an empty message such as a bare @mention).
    Help,
    /// `status`: what this conversation receives, and current alerts.
    Status,
    /// `subscribe PATTERN`.
    Subscribe(String),
    /// `unsubscribe [PATTERN]` (also `stop`); `None` (no pattern, or `all`) means everything.
    Unsubscribe(Option<String>),
    /// `mute PATTERN DURATION`.
    Mute {
        /// What to mute.
        pattern: String,
        /// For how long (1 minute to 30 days).
        duration: Duration,
    },
    /// Not a command, or a command with bad arguments. The text is a
    /// sentence for the user that quotes what was typed or explains what is
    /// wrong; reply with it followed by `help_text()` (never with silence).
    Unknown(String),
}

/// Removes `<at>…</at>` mentions (with their content), then any other HTML
/// tag (`<p>`, `<br/>`, …), as Teams sends them in message text.
fn strip_markup(text: &str) -> String {
    let lower = text.to_ascii_lowercase(); // same byte offsets as `text`
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &lower[i..];
        if rest.starts_with("<at>") || rest.starts_with("<at ") {
            if let Some(end) = rest.find("</at>") {
                out.push(' ');
                i += end + "</at>".len();
                continue;
            }
        }
        let mut chars = rest.chars();
        let c = chars.next().unwrap_or(' ');
        if c == '<' {
            let next = chars.next();
            let tag_like = next.is_some_and(|n| n.is_ascii_alphabetic() || n == '/' || n == '!');
            if tag_like {
                if let Some(end) = rest.find('>') {
                    out.push(' ');
                    i += end + 1;
                    continue;
                }
            }
        }
        // Copy one character from the original (not the lower-cased) text.
        let orig = text[i..].chars().next().unwrap_or(' ');
        out.push(orig);
        i += orig.len_utf8();
    }
    out
}

/// Decodes the HTML entities Teams uses (`&amp;`, `&lt;`, `&nbsp;`, `&#39;`, …).
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Message text as the user meant it: no markup, entities decoded, runs of
/// whitespace (and control characters) collapsed into one space, trimmed.
fn clean(text: &str) -> String {
    let decoded = decode_entities(&strip_markup(text));
    let mut out = String::with_capacity(decoded.len());
    for word in decoded
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A valid pattern, trimmed: non-empty, at most 200 characters.
pub fn check_pattern(pattern: &str) -> Result<String, String> {
    let p = pattern.trim();
    if p.is_empty() {
        return Err("The pattern is empty.".into());
    }
    if p.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!(
            "That pattern is too long: at most {MAX_PATTERN_CHARS} characters."
        ));
    }
    if p.chars().any(char::is_control) {
        return Err("The pattern contains control characters.".into());
    }
    Ok(p.to_string())
}

/// "30m", "2h", "1d", also "1h30m", "90min", "2hours": at least 1 minute,
/// at most 30 days.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim().to_lowercase();
    let shown: String = text.trim().chars().take(40).collect();
    let not_one = || {
        format!("“{shown}” is not a duration: use a number and a unit, e.g. `30m`, `2h` or `1d`.")
    };
    let mut total: u64 = 0;
    let mut rest = s.as_str();
    if rest.is_empty() {
        return Err(not_one());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(not_one());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| not_one())?;
        rest = &rest[digits..];
        let letters = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = match &rest[..letters] {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 7 * 86_400,
            _ => return Err(not_one()),
        };
        rest = &rest[letters..];
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("“{shown}” is too long: mute for at most 30 days (`30d`)."))?;
    }
    let d = Duration::from_secs(total);
    if d < MIN_MUTE {
        return Err(format!(
            "“{shown}” is too short: mute for at least 1 minute (e.g. `30m`)."
        ));
    }
    if d > MAX_MUTE {
        return Err(format!(
            "“{shown}” is too long: mute for at most 30 days (`30d`)."
        ));
    }
    Ok(d)
}

const MUTE_USAGE: &str = "To mute, give a pattern and a duration, e.g. `mute dc1-gw01/rack* 2h` \
     (durations like `30m`, `2h`, `1d`: 1 minute to 30 days).";

/// Parses a message text. Teams prefixes channel messages with
/// `<at>BotName</at> ` and may wrap text in HTML (`<p>…</p>`): mentions and
/// tags are removed, entities decoded, and the command word is
/// case-insensitive (a leading `/` is allowed).
pub fn parse(text: &str) -> Command {
    let text = clean(text);
    let (word, rest) = match text.split_once(' ') {
        Some((w, r)) => (w, r.trim()),
        None => (text.as_str(), ""),
    };
    let word = word.strip_prefix('/').unwrap_or(word).to_lowercase();
    match word.as_str() {
        "" | "help" | "?" | "hi" | "hello" => Command::Help,
        "status" => Command::Status,
        "subscribe" => {
            if rest.is_empty() {
                return Command::Unknown(
                    "Subscribe to what? Give a pattern, e.g. `subscribe dc1-*/rack*` or `subscribe site:Datacenter 1`."
                        .into(),
                );
            }
            match check_pattern(rest) {
                Ok(p) => Command::Subscribe(p),
                Err(e) => Command::Unknown(e),
            }
        }
        "unsubscribe" | "stop" => {
            if rest.is_empty() || rest.eq_ignore_ascii_case("all") {
                return Command::Unsubscribe(None);
            }
            match check_pattern(rest) {
                Ok(p) => Command::Unsubscribe(Some(p)),
                Err(e) => Command::Unknown(e),
            }
        }
        "mute" => {
            let Some((pattern, duration)) = rest.rsplit_once(' ') else {
                return Command::Unknown(MUTE_USAGE.into());
            };
            // "mute dc1-gw01/* for 2h" reads naturally too.
            let pattern = pattern.trim();
            let pattern = match pattern.len().checked_sub(4) {
                Some(cut)
                    if pattern
                        .get(cut..)
                        .is_some_and(|t| t.eq_ignore_ascii_case(" for")) =>
                {
                    &pattern[..cut]
                }
                _ => pattern,
            };
            let duration = match parse_duration(duration) {
                Ok(d) => d,
                Err(e) => return Command::Unknown(format!("{e} {MUTE_USAGE}")),
            };
            match check_pattern(pattern) {
                Ok(pattern) => Command::Mute { pattern, duration },
                Err(e) => Command::Unknown(format!("{e} {MUTE_USAGE}")),
            }
        }
        _ => {
            let shown: String = text.chars().take(100).collect();
            let more = if shown.len() < text.len() { "…" } else { "" };
            Command::Unknown(format!("I don't know the command “{shown}{more}”."))
        }
    }
}

/// The commands, one line each, and the pattern syntax.
pub fn help_text() -> String {
    "**edgetherm commands**\n\n\
     - `help` — this list\n\
     - `status` — what this chat receives, mutes, and the alerts open now\n\
     - `subscribe PATTERN` — also receive alerts matching PATTERN\n\
     - `unsubscribe [PATTERN]` — stop alerts matching PATTERN; without a pattern, stop all messages\n\
     - `mute PATTERN DURATION` — pause alerts matching PATTERN, e.g. `mute dc1-gw01/* 2h`\n\n\
     **Patterns** are `gateway/sensor` with `*` and `?` wildcards — `dc1-*/rack*` (rack sensors \
     on every dc1 gateway), `dc1-gw01/*` (one whole gateway) — or `site:NAME` for a whole site, \
     e.g. `site:Datacenter 1`.\n\n\
     **Durations**: `30m`, `2h`, `1d` (1 minute to 30 days).\n\n\
     In a channel, @mention me before the command."
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    #[test]
    fn simple_commands() {
        assert_eq!(parse("help"), Command::Help);
        assert_eq!(parse("  HELP "), Command::Help);
        assert_eq!(parse("/help"), Command::Help);
        assert_eq!(parse("?"), Command::Help);
        assert_eq!(parse(""), Command::Help);
        assert_eq!(parse("Status"), Command::Status);
        assert_eq!(parse("status\n"), Command::Status);
    }

    #[test]
    fn mentions_and_html_are_stripped() {
        assert_eq!(parse("<at>edgetherm</at> help"), Command::Help);
        assert_eq!(parse("<at>Edge Therm Bot</at> STATUS"), Command::Status);
        assert_eq!(
            parse("<p><at id=\"0\">edgetherm</at>&nbsp;subscribe dc1-*/rack*</p>"),
            Command::Subscribe("dc1-*/rack*".into())
        );
        assert_eq!(
            parse("<AT>Bot</AT> mute site:Data&amp;center&nbsp;1 2h"),
            Command::Mute {
                pattern: "site:Data&center 1".into(),
                duration: mins(120)
            }
        );
        // A bare mention is a request for help.
        assert_eq!(parse("<at>edgetherm</at>"), Command::Help);
        // Text that merely looks like markup stays.
        assert_eq!(parse("subscribe a<b"), Command::Subscribe("a<b".into()));
        assert_eq!(
            parse("subscribe a&lt;b &#x2F; &#47;"),
            Command::Subscribe("a<b / /".into())
        );
        assert_eq!(
            parse("subscribe a&bogus; b"),
            Command::Subscribe("a&bogus; b".into())
        );
    }

    #[test]
    fn subscribe_and_unsubscribe() {
        assert_eq!(
            parse("subscribe site:Datacenter 1"),
            Command::Subscribe("site:Datacenter 1".into())
        );
        assert_eq!(
            parse("SUBSCRIBE   dc1-*/rack*  "),
            Command::Subscribe("dc1-*/rack*".into())
        );
        assert!(matches!(parse("subscribe"), Command::Unknown(m) if m.contains("pattern")));
        assert!(matches!(
            parse(&format!("subscribe {}", "x".repeat(201))),
            Command::Unknown(m) if m.contains("too long")
        ));
        assert_eq!(
            parse(&format!("subscribe {}", "x".repeat(200))),
            Command::Subscribe("x".repeat(200))
        );
        assert_eq!(parse("unsubscribe"), Command::Unsubscribe(None));
        assert_eq!(parse("Unsubscribe all"), Command::Unsubscribe(None));
        assert_eq!(parse("stop"), Command::Unsubscribe(None));
        assert_eq!(
            parse("unsubscribe dc1-gw01/*"),
            Command::Unsubscribe(Some("dc1-gw01/*".into()))
        );
    }

    #[test]
    fn mute() {
        assert_eq!(
            parse("mute dc1-*/rack* 30m"),
            Command::Mute {
                pattern: "dc1-*/rack*".into(),
                duration: mins(30)
            }
        );
        assert_eq!(
            parse("mute site:Datacenter 1 1d"),
            Command::Mute {
                pattern: "site:Datacenter 1".into(),
                duration: mins(24 * 60)
            }
        );
        assert_eq!(
            parse("mute dc1-gw01/* for 2h"),
            Command::Mute {
                pattern: "dc1-gw01/*".into(),
                duration: mins(120)
            }
        );
        assert_eq!(
            parse("mute é€ 2h"),
            Command::Mute {
                pattern: "é€".into(),
                duration: mins(120)
            }
        );
        assert_eq!(
            parse("mute x 1h30m"),
            Command::Mute {
                pattern: "x".into(),
                duration: mins(90)
            }
        );
        for (text, why) in [
            ("mute", "pattern and a duration"),
            ("mute dc1-gw01/*", "pattern and a duration"),
            ("mute dc1-gw01/* 30s", "too short"),
            ("mute dc1-gw01/* 31d", "too long"),
            ("mute dc1-gw01/* 99999999999999999999d", "not a duration"),
            ("mute dc1-gw01/* 9999999999999999w", "too long"),
            ("mute dc1-gw01/* soon", "not a duration"),
            ("mute dc1-gw01/* 5", "not a duration"),
            ("mute 2h", "pattern and a duration"),
            ("mute é€ 2x", "not a duration"),
        ] {
            match parse(text) {
                Command::Unknown(m) => assert!(m.contains(why), "{text}: {m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(mins(30)));
        assert_eq!(parse_duration("2h"), Ok(mins(120)));
        assert_eq!(parse_duration("1d"), Ok(mins(1440)));
        assert_eq!(parse_duration("1M"), Ok(mins(1)));
        assert_eq!(parse_duration("90min"), Ok(mins(90)));
        assert_eq!(parse_duration("2hours"), Ok(mins(120)));
        assert_eq!(parse_duration("30d"), Ok(MAX_MUTE));
        assert_eq!(parse_duration("60s"), Ok(MIN_MUTE));
        assert!(parse_duration("59s").is_err());
        assert!(parse_duration("30d1m").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-1h").is_err());
    }

    #[test]
    fn unknown_text_quotes_it() {
        match parse("<at>edgetherm</at> what is the temperature?") {
            Command::Unknown(m) => assert!(m.contains("what is the temperature?"), "{m}"),
            other => panic!("{other:?}"),
        }
        match parse(&"é".repeat(500)) {
            Command::Unknown(m) => assert!(m.chars().count() < 150, "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn help_lists_every_command_and_patterns() {
        let h = help_text();
        for w in [
            "help",
            "status",
            "subscribe",
            "unsubscribe",
            "mute",
            "dc1-*/rack*",
            "site:Datacenter 1",
            "30m",
        ] {
            assert!(h.contains(w), "{w}");
        }
    }
}
