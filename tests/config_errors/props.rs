//! Never panics: arbitrary, TOML-like and mutated input.

use edgetherm::config::{Config, LoadError};
use proptest::prelude::*;

use crate::{example, parse};

/// Applies `edits` to `text`: each `(op, position, byte)` deletes, inserts,
/// replaces a character, or deletes/duplicates a line.
fn mutate(text: &str, edits: &[(u8, usize, char)]) -> String {
    let mut s = text.to_string();
    for &(op, pos, c) in edits {
        let mut at = pos % (s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        match op % 5 {
            0 => {
                if at < s.len() {
                    s.remove(at);
                }
            }
            1 => s.insert(at, c),
            2 => {
                if at < s.len() {
                    s.remove(at);
                }
                s.insert(at, c);
            }
            3 | 4 => {
                let mut lines: Vec<&str> = s.split('\n').collect();
                let i = pos % lines.len();
                if op % 5 == 3 {
                    lines.remove(i);
                } else {
                    lines.insert(i, lines[i]);
                }
                s = lines.join("\n");
            }
            _ => unreachable!(),
        }
    }
    s
}

/// Every error has a location inside the file and the list is sorted.
fn check_well_formed(src: &str, result: &Result<Config, LoadError>) {
    if let Err(LoadError::Invalid(errors)) = result {
        assert!(!errors.is_empty());
        let lines = src.matches('\n').count() + 1;
        for e in errors {
            assert!(e.line >= 1 && e.line <= lines, "line out of range: {e}");
            assert!(e.column >= 1, "{e}");
            assert!(!e.message.is_empty(), "{e}");
        }
        assert!(errors
            .windows(2)
            .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)));
    }
}

fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '=', '[', ']', '{', '}', '"', '\'', '#', '\n', '\r', '.', ',', '-', '*', '0', '9', 'x',
            'é', '€', ' ', '\t'
        ]),
        any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_text(src in "\\PC*") {
        let r = parse(&src);
        check_well_formed(&src, &r);
    }

    #[test]
    fn parse_never_panics_on_tomlish_text(src in "([\\[\\]{}=\"'#., a-z0-9_\\-\n\r]|é){0,200}") {
        let r = parse(&src);
        check_well_formed(&src, &r);
    }

    #[test]
    fn parse_never_panics_on_mutated_examples(
        which in 0..2usize,
        edits in prop::collection::vec((any::<u8>(), any::<usize>(), interesting_char()), 1..8),
    ) {
        let name = ["edgetherm.toml", "quickstart.toml"][which];
        let text = std::fs::read_to_string(example(name)).unwrap();
        let src = mutate(&text, &edits);
        let r = parse(&src);
        check_well_formed(&src, &r);
    }

    #[test]
    fn parse_never_panics_on_odd_values(
        key in prop::sample::select(vec![
            "retention", "max_disk", "flush_interval", "interval", "for", "stale", "repeat", "above", "hysteresis",
            "address", "flap_changes", "period", "cycle", "value", "sensors", "trend",
        ]),
        value in prop_oneof![
            "\"[0-9.]{0,25}(ms|s|m|h|d|w|B|KiB|MiB|GiB|TB)?\"",
            "-?[0-9]{1,25}",
            "-?[0-9]{1,20}\\.[0-9]{1,20}(e[0-9]{1,3})?",
            Just("inf".to_string()), Just("nan".to_string()), Just("-inf".to_string()),
            Just("0x7fffffffffffffff".to_string()), Just("[]".to_string()), Just("{}".to_string()),
        ],
    ) {
        // Put the key into each place it can go; errors are fine, panics are not.
        for template in [
            format!("[buffer]\n{key} = {value}\n"),
            format!("[[sensor]]\nid = \"a\"\nkind = \"sim\"\npattern = \"points\"\npoints = [{{ at = \"0s\", value = 1 }}]\n{key} = {value}\n"),
            format!("[[sensor]]\nid = \"a\"\nkind = \"i2c\"\nchip = \"bme280\"\n{key} = {value}\n"),
            format!("[[sensor]]\nid = \"a\"\nkind = \"sim\"\npattern = \"sine\"\nmin = 1\nmax = 2\n{key} = {value}\n[[rule]]\nsensors = \"a\"\nabove = 1\n{key} = {value}\n"),
        ] {
            let r = parse(&template);
            check_well_formed(&template, &r);
        }
    }
}
