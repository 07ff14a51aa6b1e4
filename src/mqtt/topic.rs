//! MQTT topic filters (`+`, `#`) and sensor-id templates (`{1}`, `{2}`, …)
//! filled from what the wildcards captured.
//!
//! A sensor `topic = "zigbee2mqtt/+"` with `id = "z2m-{1}"` becomes one sensor
//! per device: `zigbee2mqtt/Freezer Left` → `z2m-freezer-left`.

/// MQTT strings are at most this many bytes (2-byte length prefix).
const MAX_TOPIC: usize = 65_535;
/// Sensor ids are at most this many characters.
const MAX_ID: usize = 64;

/// Whether `topic` matches the subscription `filter`, and what each wildcard
/// captured: one level for each `+`, and for a trailing `#` the remaining
/// levels joined with '/' (empty when `#` matched only the parent level, as
/// `a/#` matches `a`). In filter order; `None` if there is no match, if the
/// filter is invalid (see [`validate_filter`]) or if `topic` is not a valid
/// topic name (empty, or holding a wildcard or NUL). Per MQTT 3.1.1 §4.7.2,
/// a topic starting with `$` is not matched by a filter starting with a
/// wildcard.
pub fn matches(filter: &str, topic: &str) -> Option<Vec<String>> {
    if validate_filter(filter).is_err() || !valid_topic(topic) {
        return None;
    }
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return None;
    }
    let mut captures = Vec::new();
    let mut levels = topic.split('/');
    for f in filter.split('/') {
        match f {
            "#" => {
                let rest: Vec<&str> = levels.collect();
                captures.push(rest.join("/"));
                return Some(captures);
            }
            "+" => captures.push(levels.next()?.to_string()),
            literal => {
                if levels.next()? != literal {
                    return None;
                }
            }
        }
    }
    if levels.next().is_some() {
        None
    } else {
        Some(captures)
    }
}

/// A topic name one can publish to: non-empty, no wildcards, no NUL.
fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= MAX_TOPIC && !topic.contains(['+', '#', '\0'])
}

/// Validates a filter per MQTT 3.1.1 §4.7: non-empty, at most 65535 bytes,
/// no NUL, `#` only as the whole last level, `+` only as a whole level.
/// The error says what is wrong, e.g. `'#' must be the last level, found at level 2 of 3`.
pub fn validate_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("the topic filter is empty".to_string());
    }
    if filter.len() > MAX_TOPIC {
        return Err(format!(
            "the topic filter is {} bytes, over MQTT's {MAX_TOPIC}",
            filter.len()
        ));
    }
    if filter.contains('\0') {
        return Err("the topic filter contains a NUL character".to_string());
    }
    let count = filter.split('/').count();
    for (i, level) in filter.split('/').enumerate() {
        let n = i + 1;
        if level.contains('#') {
            if level != "#" {
                return Err(format!(
                    "'#' must stand alone in its level, found {:?} (level {n})",
                    short(level)
                ));
            }
            if n != count {
                return Err(format!(
                    "'#' must be the last level, found at level {n} of {count}"
                ));
            }
        }
        if level.contains('+') && level != "+" {
            return Err(format!(
                "'+' must stand alone in its level, found {:?} (level {n})",
                short(level)
            ));
        }
    }
    Ok(())
}

/// A level cut to 40 characters for messages.
fn short(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(39).collect();
        out.push('…');
        out
    }
}

/// The number of wildcard captures a filter yields: one per `+` level, and
/// one for a trailing `#`.
pub fn capture_count(filter: &str) -> usize {
    filter
        .split('/')
        .filter(|level| *level == "+" || *level == "#")
        .count()
}

/// True if `id` holds a `{N}` placeholder (N: one or more ASCII digits).
pub fn is_template(id: &str) -> bool {
    let mut rest = id;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if placeholder(rest).is_some() {
            return true;
        }
    }
    false
}

/// If `s` (just after a '{') starts with `digits}`, the digits and the length
/// consumed including the '}'.
fn placeholder(s: &str) -> Option<(&str, usize)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && s.as_bytes().get(digits) == Some(&b'}') {
        Some((&s[..digits], digits + 1))
    } else {
        None
    }
}

/// Expands an id template: `{1}`, `{2}`, … become the captured segments
/// (one-based; a '{' not starting a placeholder is kept as text), then the
/// result is made a valid sensor id: ASCII lower-cased, every character
/// outside `[a-z0-9_.-]` becomes '-', runs of '-' collapse to one, leading
/// and trailing '-' are trimmed, and it is cut to 64 characters. `None` if
/// the template refers to a capture that does not exist (including `{0}`)
/// or the result is empty.
pub fn expand_id(template: &str, captures: &[String]) -> Option<String> {
    let mut raw = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        raw.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match placeholder(after) {
            Some((digits, used)) => {
                let n: usize = digits.parse().ok()?;
                raw.push_str(captures.get(n.checked_sub(1)?)?);
                rest = &after[used..];
            }
            None => {
                raw.push('{');
                rest = after;
            }
        }
    }
    raw.push_str(rest);
    let id = sanitize_id(&raw);
    if id.is_empty() {
        None
    } else {
        Some(id)
    }
}

/// `raw` as a sensor id (see [`expand_id`]); may be empty.
fn sanitize_id(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_ID * 4));
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.' {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            // Collapsed, or leading (trimmed).
            continue;
        }
        out.push(c);
        if out.len() > MAX_ID {
            break;
        }
    }
    out.truncate(MAX_ID);
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `config::sensors::valid_sensor_id` (private there), replicated.
    fn valid_sensor_id(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
    }

    fn caps(list: &[&str]) -> Option<Vec<String>> {
        Some(list.iter().map(|s| s.to_string()).collect())
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    // The examples of MQTT 3.1.1 §4.7.

    #[test]
    fn multi_level_wildcard() {
        let f = "sport/tennis/player1/#";
        assert_eq!(matches(f, "sport/tennis/player1"), caps(&[""]));
        assert_eq!(
            matches(f, "sport/tennis/player1/ranking"),
            caps(&["ranking"])
        );
        assert_eq!(
            matches(f, "sport/tennis/player1/score/wimbledon"),
            caps(&["score/wimbledon"])
        );
        assert_eq!(matches(f, "sport/tennis/player2"), None);
        assert_eq!(matches("sport/#", "sport"), caps(&[""]));
        assert_eq!(matches("#", "a/b/c"), caps(&["a/b/c"]));
        assert_eq!(matches("#", "/"), caps(&["/"]));
    }

    #[test]
    fn single_level_wildcard() {
        assert_eq!(
            matches("sport/tennis/+", "sport/tennis/player1"),
            caps(&["player1"])
        );
        assert_eq!(
            matches("sport/tennis/+", "sport/tennis/player1/ranking"),
            None
        );
        assert_eq!(matches("sport/+", "sport"), None);
        assert_eq!(matches("sport/+", "sport/"), caps(&[""]));
        assert_eq!(matches("+/+", "/finance"), caps(&["", "finance"]));
        assert_eq!(matches("/+", "/finance"), caps(&["finance"]));
        assert_eq!(matches("+", "/finance"), None);
        assert_eq!(
            matches("+/tennis/#", "sport/tennis/player1/ranking"),
            caps(&["sport", "player1/ranking"])
        );
        assert_eq!(
            matches("zigbee2mqtt/+", "zigbee2mqtt/Freezer Left"),
            caps(&["Freezer Left"])
        );
        // The bridge's own topics are deeper than one level.
        assert_eq!(matches("zigbee2mqtt/+", "zigbee2mqtt/bridge/state"), None);
        assert_eq!(
            matches(
                "shellies/+/status/temperature:0",
                "shellies/shellyplusht-1/status/temperature:0"
            ),
            caps(&["shellyplusht-1"])
        );
    }

    #[test]
    fn literal_levels_are_exact_and_case_sensitive() {
        assert_eq!(matches("a/b", "a/b"), caps(&[]));
        assert_eq!(matches("ACCOUNTS", "Accounts"), None);
        assert_eq!(matches("a/b", "a/b/"), None);
        assert_eq!(matches("a/b", "a"), None);
        assert_eq!(matches("a//b", "a//b"), caps(&[]));
    }

    #[test]
    fn dollar_topics_need_a_literal_first_level() {
        assert_eq!(matches("#", "$SYS/broker/uptime"), None);
        assert_eq!(matches("+/monitor/Clients", "$SYS/monitor/Clients"), None);
        assert_eq!(
            matches("$SYS/#", "$SYS/monitor/Clients"),
            caps(&["monitor/Clients"])
        );
        assert_eq!(
            matches("$SYS/monitor/+", "$SYS/monitor/Clients"),
            caps(&["Clients"])
        );
        // Only the first level counts.
        assert_eq!(matches("a/+", "a/$b"), caps(&["$b"]));
    }

    #[test]
    fn invalid_filters_and_topics_match_nothing() {
        assert_eq!(matches("a/#/b", "a/x/b"), None);
        assert_eq!(matches("a+", "a+"), None);
        assert_eq!(matches("", ""), None);
        assert_eq!(matches("#", ""), None);
        assert_eq!(matches("a/+", "a/+"), None);
        assert_eq!(matches("a/#", "a/#"), None);
        assert_eq!(matches("#", "a\0b"), None);
    }

    #[test]
    fn validate_filter_accepts_mqtt_filters() {
        for f in [
            "#", "+", "/", "a", "a/b", "a/+/b", "+/+", "sport/#", "a//b", "$SYS/#", "/+/#", "+/#",
        ] {
            assert_eq!(validate_filter(f), Ok(()), "{f}");
        }
    }

    #[test]
    fn validate_filter_says_what_is_wrong() {
        assert_eq!(
            validate_filter(""),
            Err("the topic filter is empty".to_string())
        );
        assert_eq!(
            validate_filter("a/#/b"),
            Err("'#' must be the last level, found at level 2 of 3".to_string())
        );
        assert_eq!(
            validate_filter("sport/tennis#"),
            Err("'#' must stand alone in its level, found \"tennis#\" (level 2)".to_string())
        );
        assert_eq!(
            validate_filter("sport+"),
            Err("'+' must stand alone in its level, found \"sport+\" (level 1)".to_string())
        );
        assert_eq!(
            validate_filter("a/b+c/d"),
            Err("'+' must stand alone in its level, found \"b+c\" (level 2)".to_string())
        );
        assert_eq!(
            validate_filter("a\0b"),
            Err("the topic filter contains a NUL character".to_string())
        );
        assert!(validate_filter(&"a".repeat(65_536))
            .unwrap_err()
            .contains("65536 bytes"));
        assert!(validate_filter(&format!("{}#", "x".repeat(100)))
            .unwrap_err()
            .contains('…'));
    }

    #[test]
    fn capture_count_counts_wildcards() {
        assert_eq!(capture_count("a/b"), 0);
        assert_eq!(capture_count("#"), 1);
        assert_eq!(capture_count("+"), 1);
        assert_eq!(capture_count("a/+/b/+/#"), 3);
        assert_eq!(capture_count("a+/b#"), 0);
    }

    #[test]
    fn is_template_needs_digits_in_braces() {
        assert!(is_template("z2m-{1}"));
        assert!(is_template("{12}"));
        assert!(is_template("{x}{2}"));
        assert!(is_template("{0}"));
        assert!(!is_template("freezer"));
        assert!(!is_template("{}"));
        assert!(!is_template("{x}"));
        assert!(!is_template("{1"));
        assert!(!is_template("1}"));
        assert!(!is_template("{ 1}"));
    }

    #[test]
    fn expand_id_fills_and_sanitizes() {
        assert_eq!(
            expand_id("z2m-{1}", &strings(&["Freezer Left"])),
            Some("z2m-freezer-left".to_string())
        );
        assert_eq!(
            expand_id("{2}.{1}", &strings(&["Temp_1", "Cold Room"])),
            Some("cold-room.temp_1".to_string())
        );
        assert_eq!(
            expand_id("{1}-{2}", &strings(&["Kühl--Raum ", "#2"])),
            Some("k-hl-raum-2".to_string())
        );
        assert_eq!(
            expand_id("t-{1}", &strings(&["a/b/c"])),
            Some("t-a-b-c".to_string())
        );
        assert_eq!(
            expand_id("{x}-{1}", &strings(&["a"])),
            Some("x-a".to_string())
        );
        assert_eq!(expand_id("fixed", &[]), Some("fixed".to_string()));
        assert_eq!(
            expand_id("{1}{1}", &strings(&["ab"])),
            Some("abab".to_string())
        );
    }

    #[test]
    fn expand_id_missing_capture_or_empty_result_is_none() {
        assert_eq!(expand_id("{2}", &strings(&["a"])), None);
        assert_eq!(expand_id("{0}", &strings(&["a"])), None);
        assert_eq!(expand_id("a-{1}", &[]), None);
        assert_eq!(
            expand_id("{99999999999999999999999}", &strings(&["a"])),
            None
        );
        assert_eq!(expand_id("{1}", &strings(&["???"])), None);
        assert_eq!(expand_id("-{1}-", &strings(&[""])), None);
        assert_eq!(expand_id("", &[]), None);
    }

    #[test]
    fn expand_id_cuts_at_64_without_trailing_dash() {
        let long = format!("{}-{}", "a".repeat(63), "b".repeat(10));
        assert_eq!(expand_id("{1}", &[long]), Some("a".repeat(63)));
        let id = expand_id("x{1}", &["y".repeat(200)]).unwrap();
        assert_eq!(id.len(), 64);
        assert!(valid_sensor_id(&id));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn matches_never_panics(filter in "[ab/+#$\\x00]{0,12}", topic in "[ab/+#$\\x00]{0,12}") {
            if let Some(c) = matches(&filter, &topic) {
                prop_assert!(validate_filter(&filter).is_ok());
                prop_assert_eq!(c.len(), capture_count(&filter));
            }
        }

        #[test]
        fn matches_never_panics_on_any_text(filter in "\\PC{0,24}", topic in "\\PC{0,24}") {
            let _ = matches(&filter, &topic);
            let _ = validate_filter(&filter);
            let _ = capture_count(&filter);
        }

        #[test]
        fn built_filters_capture_what_they_replaced(
            levels in prop::collection::vec("[a-z0-9 _.$-]{0,4}", 1..7),
            plus in prop::collection::vec(any::<bool>(), 7),
            hash in prop::option::of(0..8usize),
        ) {
            let topic = levels.join("/");
            prop_assume!(!topic.is_empty());
            let hash = hash.filter(|h| *h <= levels.len());
            let mut filter = Vec::new();
            let mut want = Vec::new();
            for (i, level) in levels.iter().enumerate() {
                if hash == Some(i) {
                    break;
                }
                if plus[i] {
                    filter.push("+".to_string());
                    want.push(level.clone());
                } else {
                    filter.push(level.clone());
                }
            }
            if let Some(h) = hash {
                filter.push("#".to_string());
                want.push(levels[h..].join("/"));
            }
            let filter = filter.join("/");
            prop_assert!(validate_filter(&filter).is_ok(), "{}", filter);
            prop_assert_eq!(capture_count(&filter), want.len());
            let wild_first = filter.starts_with('+') || filter.starts_with('#');
            let expected = if topic.starts_with('$') && wild_first { None } else { Some(want) };
            prop_assert_eq!(matches(&filter, &topic), expected, "{} vs {}", filter, topic);
        }

        #[test]
        fn expand_id_is_always_a_valid_sensor_id(
            template in "([a-zA-Z0-9 _./#{}-]|\\{[0-4]\\}|\\PC){0,40}",
            captures in prop::collection::vec("\\PC{0,30}", 0..4),
        ) {
            if let Some(id) = expand_id(&template, &captures) {
                prop_assert!(valid_sensor_id(&id), "{:?} -> {:?}", template, id);
            }
        }

        #[test]
        fn expand_id_keeps_clean_ids(parts in prop::collection::vec("[a-z0-9_.]{1,6}", 1..9)) {
            // Valid ids without leading, trailing or repeated '-' pass unchanged.
            let id = parts.join("-");
            prop_assert!(valid_sensor_id(&id));
            prop_assert!(!is_template(&id));
            prop_assert_eq!(expand_id(&id, &[]), Some(id.clone()));
            prop_assert_eq!(expand_id("{1}", std::slice::from_ref(&id)), Some(id.clone()));
        }
    }
}
