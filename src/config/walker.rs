//! Reads a spanned TOML tree key by key, collecting every error with its
//! location instead of stopping at the first one (serde would).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::ConfigError;
use super::files::{Holds, NamedFile};
use super::units::{parse_duration, parse_size, DURATION_HINT, SIZE_HINT};

/// Collects errors and turns byte offsets into line:column.
pub struct Ctx<'s> {
    src: &'s str,
    file: &'s Path,
    /// Every error found so far.
    pub errors: Vec<ConfigError>,
    /// Every file the config names, for the file pass (parsing opens none).
    pub files: Vec<NamedFile>,
}

impl<'s> Ctx<'s> {
    /// A context for one file's text.
    pub fn new(file: &'s Path, src: &'s str) -> Self {
        Ctx {
            src,
            file,
            errors: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Remembers that `key`, written at `span`, names a file that must hold `holds`.
    pub fn name_file(&mut self, span: &Range<usize>, key: &str, path: &str, holds: Holds) {
        let (line, column) = line_col(self.src, span.start);
        self.files.push(NamedFile {
            key: key.to_string(),
            path: PathBuf::from(path),
            holds,
            line,
            column,
        });
    }

    /// Records an error at `span` about `key`.
    pub fn error(&mut self, span: &Range<usize>, key: &str, message: impl Into<String>) {
        let (line, column) = line_col(self.src, span.start);
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        });
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A value and where it was written.
pub struct At<T> {
    /// The parsed value.
    pub value: T,
    /// Its byte range in the file.
    pub span: Range<usize>,
}

/// One TOML table being read: remembers which keys were asked for so that
/// the rest can be reported as unknown.
pub struct Fields<'t, 'i> {
    table: &'t DeTable<'i>,
    span: Range<usize>,
    prefix: String,
    asked: Vec<&'static str>,
}

fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("the string {:?}", s.as_ref()),
        // Display keeps the radix prefix: `0x78`, not `78`.
        DeValue::Integer(i) => format!("the integer {i}"),
        DeValue::Float(f) => format!("the number {}", f.as_str()),
        DeValue::Boolean(b) => format!("{b}"),
        DeValue::Datetime(d) => format!("the date {d}"),
        DeValue::Array(_) => "an array".into(),
        DeValue::Table(_) => "a table".into(),
    }
}

/// A finite TOML number (integer or float) as f64.
pub fn number_of(v: &DeValue<'_>) -> Option<f64> {
    number(v).filter(|n| n.is_finite())
}

/// Converts a TOML number (integer or float) to f64.
fn number(v: &DeValue<'_>) -> Option<f64> {
    match v {
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
            .ok()
            .map(|n| n as f64),
        DeValue::Float(f) => f.as_str().replace('_', "").parse().ok(),
        _ => None,
    }
}

fn integer(v: &DeValue<'_>) -> Option<i64> {
    match v {
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok(),
        _ => None,
    }
}

impl<'t, 'i> Fields<'t, 'i> {
    /// Starts reading `table`; `prefix` names it in errors (e.g. "[agent]").
    pub fn new(table: &'t DeTable<'i>, span: Range<usize>, prefix: impl Into<String>) -> Self {
        Fields {
            table,
            span,
            prefix: prefix.into(),
            asked: Vec::new(),
        }
    }

    /// The table's own span.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The name used for `key` in error messages.
    pub fn name(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// The raw value of `key`, marking it as known.
    pub fn raw(&mut self, key: &'static str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.asked.push(key);
        self.table.get(key)
    }

    /// True when `key` is present (and marks it as known).
    pub fn has(&mut self, key: &'static str) -> bool {
        self.raw(key).is_some()
    }

    fn typed<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        expected: &str,
        convert: impl FnOnce(&DeValue<'i>) -> Option<T>,
    ) -> Option<At<T>> {
        let v = self.raw(key)?;
        match convert(v.get_ref()) {
            Some(value) => Some(At {
                value,
                span: v.span(),
            }),
            None => {
                let found = describe(v.get_ref());
                ctx.error(
                    &v.span(),
                    &self.name(key),
                    format!("expected {expected}, found {found}"),
                );
                None
            }
        }
    }

    /// A string value.
    pub fn string(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Option<At<String>> {
        self.typed(ctx, key, "a string", |v| v.as_str().map(str::to_string))
    }

    /// A required string value.
    pub fn required_string(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        what: &str,
    ) -> Option<At<String>> {
        if self.table.get(key).is_none() {
            let span = self.span();
            ctx.error(&span, &self.name(key), format!("missing: {what}"));
            self.asked.push(key);
            return None;
        }
        self.string(ctx, key)
    }

    /// A number (integer or float).
    pub fn number(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Option<At<f64>> {
        self.typed(ctx, key, "a number (°C)", |v| {
            number(v).filter(|n| n.is_finite())
        })
    }

    /// An integer within `range`.
    pub fn integer(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        min: i64,
        max: i64,
    ) -> Option<At<i64>> {
        let expected = format!("an integer from {min} to {max}");
        self.typed(ctx, key, &expected, |v| {
            integer(v).filter(|n| (min..=max).contains(n))
        })
    }

    /// A boolean.
    pub fn boolean(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Option<At<bool>> {
        self.typed(ctx, key, "true or false", |v| v.as_bool())
    }

    /// A duration string.
    pub fn duration(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Option<At<Duration>> {
        self.typed(ctx, key, DURATION_HINT, |v| {
            v.as_str().and_then(parse_duration)
        })
    }

    /// A duration string, or `word` (e.g. "off") for none.
    pub fn duration_or(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        word: &str,
    ) -> Option<At<Option<Duration>>> {
        let expected = format!("\"{word}\" or {DURATION_HINT}");
        self.typed(ctx, key, &expected, |v| match v.as_str()? {
            s if s.trim() == word => Some(None),
            s => parse_duration(s).map(Some),
        })
    }

    /// A size string.
    pub fn size(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Option<At<u64>> {
        self.typed(ctx, key, SIZE_HINT, |v| v.as_str().and_then(parse_size))
    }

    /// One of a fixed set of strings.
    pub fn choice(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        choices: &[&str],
    ) -> Option<At<String>> {
        let expected = format!("one of {}", quoted_list(choices));
        self.typed(ctx, key, &expected, |v| {
            v.as_str()
                .filter(|s| choices.contains(s))
                .map(str::to_string)
        })
    }

    /// A string or an array of strings.
    pub fn string_list(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Option<At<Vec<String>>> {
        self.typed(ctx, key, "a string or an array of strings", |v| match v {
            DeValue::String(s) => Some(vec![s.to_string()]),
            DeValue::Array(a) => a
                .iter()
                .map(|i| i.get_ref().as_str().map(str::to_string))
                .collect(),
            _ => None,
        })
    }

    /// A sub-table.
    pub fn table(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Option<Fields<'t, 'i>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Table(t) => {
                // Top-level tables are named the way the file writes them: `[agent] data_dir`.
                let prefix = if self.prefix.is_empty() {
                    format!("[{key}] ")
                } else {
                    format!("{}{key}.", self.prefix)
                };
                Some(Fields::new(t, v.span(), prefix))
            }
            other => {
                let found = describe(other);
                ctx.error(
                    &v.span(),
                    &self.name(key),
                    format!("expected a table, found {found}"),
                );
                None
            }
        }
    }

    /// An array of tables (`[[key]]` or `key = [{...}]`).
    pub fn tables(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        label: &str,
    ) -> Vec<Fields<'t, 'i>> {
        let Some(v) = self.raw(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = v.get_ref() else {
            let found = describe(v.get_ref());
            ctx.error(
                &v.span(),
                &self.name(key),
                format!("expected an array of tables ([[{key}]]), found {found}"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (n, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(t) => {
                    out.push(Fields::new(t, item.span(), format!("{label} #{}: ", n + 1)))
                }
                other => {
                    let found = describe(other);
                    ctx.error(
                        &item.span(),
                        &self.name(key),
                        format!("expected a table, found {found}"),
                    );
                }
            }
        }
        out
    }

    /// Reports every key that was never asked for; `what` describes the table.
    pub fn finish(self, ctx: &mut Ctx<'_>, what: &str) {
        for (k, _) in self.table.iter() {
            let key: &str = k.get_ref();
            if self.asked.contains(&key) {
                continue;
            }
            let mut known: Vec<&str> = self.asked.clone();
            known.sort_unstable();
            known.dedup();
            let hint = closest(key, &known)
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            ctx.error(
                &k.span(),
                &self.name(key),
                format!(
                    "unknown key in {what}{hint}; expected one of: {}",
                    known.join(", ")
                ),
            );
        }
    }
}

/// `"a", "b" or "c"`.
pub fn quoted_list(items: &[&str]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        n => format!("{} or {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

/// The known key nearest to a misspelt one, if any is close.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        // About one edit in three characters: `intervall` -> `interval`, but
        // not `min` -> `kind` or `id`, which would only confuse.
        .filter(|(d, k)| *d <= (k.len() / 3).clamp(1, 3))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let src = "a = 1\nbb = \"é\"\n  c = 3";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, src.find('c').unwrap()), (3, 3));
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("intervall", &["interval", "id"]), Some("interval"));
        assert_eq!(closest("zzz", &["interval", "id"]), None);
        assert_eq!(closest("min", &["interval", "id", "kind"]), None);
        assert_eq!(closest("devcie", &["device", "id"]), Some("device"));
    }
}
