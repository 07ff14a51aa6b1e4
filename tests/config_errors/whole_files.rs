//! Whole files: several errors at once, paths, loading, line endings and
//! columns.

use std::path::Path;

use edgetherm::config::{Config, LoadError};

use crate::{check, errors, example, one_error, parse_ok, render, toml};

#[test]
fn several_errors_are_all_reported_in_order() {
    let src = toml(&[
        "unknown_top = 1",            // 1: unknown key
        "[agent]",                    // 2
        "site = 42",                  // 3: wrong type
        "[buffer]",                   // 4
        "retention = \"10 parsecs\"", // 5: bad duration
        "max_disk = \"lots\"",        // 6: bad size
        "[[sensor]]",                 // 7
        "id = \"a\"",                 // 8
        "kind = \"sim\"",             // 9
        "value = 1.0",                // 10
        "intervall = \"5s\"",         // 11: typo
        "[[sensor]]",                 // 12: missing kind
        "id = \"a\"",                 // 13: duplicate id
        "[[rule]]",                   // 14: no condition
        "sensors = [\"nope\"]",       // 15: matches nothing
        "[[rule]]",                   // 16
        "sensors = \"a\"",            // 17
        "above = 1.0",                // 18: above <= below
        "below = 2.0",                // 19
    ]);
    let errors = errors(&src);
    let got: Vec<(usize, usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.column, e.key.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1, "unknown_top"),
            (3, 8, "[agent] site"),
            (5, 13, "[buffer] retention"),
            (6, 12, "[buffer] max_disk"),
            (11, 1, "[[sensor]] #1: intervall"),
            (12, 1, "[[sensor]] #2: kind"),
            (13, 6, "[[sensor]] #2: id"),
            (14, 1, "[[rule]] #1: above"),
            (15, 11, "[[rule]] #1: sensors"),
            (18, 9, "[[rule]] #2: above"),
        ],
        "\n{}",
        render(&errors)
    );
    assert!(errors
        .windows(2)
        .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)));

    // The combined message has one line per error.
    let shown = LoadError::Invalid(errors.clone()).to_string();
    assert_eq!(shown.lines().count(), errors.len(), "{shown}");
}

#[test]
fn config_path_shows_in_messages() {
    let path = Path::new("/etc/edgetherm/edgetherm.toml");
    let src = toml(&["[agent]", "site = \"x\"", "colour = \"blue\""]);
    let err = Config::parse(path, &src).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with(
            "/etc/edgetherm/edgetherm.toml:3:1: [agent] colour: unknown key in [agent]"
        ),
        "{shown}"
    );
    let LoadError::Invalid(errors) = err else {
        panic!("expected LoadError::Invalid")
    };
    assert_eq!(errors[0].file, path);
}

#[test]
fn load_reports_the_path_of_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let err = Config::load(&path).unwrap_err();
    assert!(matches!(err, LoadError::Read { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn load_reads_and_locates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edgetherm.toml");
    std::fs::write(&path, toml(&["[buffer]", "max_disk = \"lots\""])).unwrap();
    let shown = Config::load(&path).unwrap_err().to_string();
    assert!(
        shown.starts_with(&format!(
            "{}:2:12: [buffer] max_disk: expected a size",
            path.display()
        )),
        "{shown}"
    );
}

#[test]
fn windows_line_endings_give_the_right_lines() {
    let src =
        "[agent]\r\nsite = \"x\"\r\n\r\n  colour = \"blue\"\r\n[buffer]\r\nmax_disk = \"lots\"\r\n";
    let errors = errors(src);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    check(
        &errors[0],
        4,
        3,
        "[agent] colour",
        &["unknown key in [agent]"],
    );
    check(
        &errors[1],
        6,
        12,
        "[buffer] max_disk",
        &["expected a size like"],
    );

    // A whole valid config with CRLF parses like its LF twin.
    let lf = std::fs::read_to_string(example("quickstart.toml")).unwrap();
    let crlf = lf.replace('\n', "\r\n");
    let c = parse_ok(&crlf);
    assert_eq!(c.sensors.len(), 2);
}

#[test]
fn columns_count_characters_not_bytes() {
    let src = toml(&["[agent]", "site = \"Kühlraum\"; log_level = 1"]);
    let e = one_error(&src);
    // `;` is the 18th character of the line (but byte 19).
    assert_eq!((e.line, e.column), (2, 18), "{e}");
}
