//! The agent's `alert event` log lines, parsed: the level and the
//! `key=value` fields, strings unquoted.

use std::collections::BTreeMap;

/// A quoted log value (opening quote already gone) → (the value unescaped, the rest).
fn unquote(q: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = q.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.extend(chars.next().map(|(_, c)| c)),
            '"' => return (value, &q[i + 1..]),
            c => value.push(c),
        }
    }
    (value, "")
}

/// One `alert event` line: `key=value` fields, strings unquoted.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLine {
    pub level: String,
    pub fields: BTreeMap<String, String>,
}

impl EventLine {
    /// Parses a tracing fmt line carrying the message "alert event".
    pub fn parse(line: &str) -> Option<EventLine> {
        let (head, rest) = line.split_once(" alert event ")?;
        let level = head.split_whitespace().nth(1)?.to_string();
        let mut fields = BTreeMap::new();
        let mut s = rest.trim_start();
        while let Some((key, after)) = s.split_once('=') {
            let (value, tail) = match after.strip_prefix('"') {
                Some(quoted) => unquote(quoted),
                None => {
                    let (v, t) = after.split_at(after.find(' ').unwrap_or(after.len()));
                    (v.to_string(), t)
                }
            };
            fields.insert(key.trim().to_string(), value);
            s = tail.trim_start();
        }
        fields
            .contains_key("event")
            .then_some(EventLine { level, fields })
    }

    /// A field ("" if absent).
    pub fn get(&self, key: &str) -> &str {
        self.fields.get(key).map_or("", String::as_str)
    }

    /// `event=`: firing, resolved, test, ...
    pub fn kind(&self) -> &str {
        self.get("event")
    }

    /// `id=`
    pub fn id(&self) -> &str {
        self.get("id")
    }

    /// The episode: `alert=`, or the event's own id when it opens none (test).
    pub fn episode(&self) -> &str {
        Some(self.get("alert"))
            .filter(|a| !a.is_empty())
            .unwrap_or(self.id())
    }
}
