//! Config errors: every problem reported, each with file:line:column, the key
//! and what was expected; the files a config names, checked by the real
//! binary; plus the shipped example configs.

use std::path::{Path, PathBuf};

use edgetherm::config::{Config, ConfigError, LoadError};

#[path = "../common/mod.rs"]
mod common;

mod defaults;
mod examples;
mod files;
mod mqtt_sensors;
mod props;
mod rules;
mod sections;
mod sensors;
mod syntax;
mod types_and_units;
mod unknown_keys;
mod whole_files;

const FILE: &str = "test.toml";

/// Joins lines with `\n` (and a final newline), so that line N of the file
/// is `lines[N - 1]`.
fn toml(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// A valid sim sensor `s1`, lines 1 to 4, followed by `more`.
fn with_sim(more: &[&str]) -> String {
    let mut lines = vec![
        "[[sensor]]",
        "id = \"s1\"",
        "kind = \"sim\"",
        "value = 20.0",
    ];
    lines.extend_from_slice(more);
    toml(&lines)
}

fn parse(src: &str) -> Result<Config, LoadError> {
    Config::parse(Path::new(FILE), src)
}

fn parse_ok(src: &str) -> Config {
    match parse(src) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}\n--- config:\n{src}"),
    }
}

/// Every error of an invalid config.
fn errors(src: &str) -> Vec<ConfigError> {
    match parse(src) {
        Err(LoadError::Invalid(errors)) => {
            assert!(!errors.is_empty(), "LoadError::Invalid must not be empty");
            errors
        }
        Err(e @ LoadError::Read { .. }) => panic!("unexpected read error: {e}"),
        Ok(_) => panic!("expected errors, but the config parsed:\n{src}"),
    }
}

/// The only error of an invalid config (more than one fails the test: no
/// follow-on noise).
fn one_error(src: &str) -> ConfigError {
    let mut errors = errors(src);
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one error, got:\n{}",
        render(&errors)
    );
    errors.remove(0)
}

fn render(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks location, key and message fragments, and that `Display` carries
/// them all as `file:line:col: key: message`.
#[track_caller]
fn check(e: &ConfigError, line: usize, column: usize, key: &str, fragments: &[&str]) {
    assert_eq!(
        (e.line, e.column),
        (line, column),
        "wrong location for: {e}"
    );
    assert_eq!(e.key, key, "wrong key for: {e}");
    assert_eq!(e.file, PathBuf::from(FILE));
    for f in fragments {
        assert!(e.message.contains(f), "message lacks {f:?}: {e}");
    }
    let shown = e.to_string();
    let prefix = format!("{FILE}:{line}:{column}: {key}: ");
    assert!(
        shown.starts_with(&prefix),
        "{shown:?} does not start with {prefix:?}"
    );
}

/// The single error of `src`, checked.
#[track_caller]
fn expect_one(src: &str, line: usize, column: usize, key: &str, fragments: &[&str]) {
    check(&one_error(src), line, column, key, fragments);
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}
