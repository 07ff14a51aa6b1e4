//! TOML syntax errors.

use crate::{one_error, toml};

#[test]
fn invalid_toml_syntax_is_located() {
    let src = toml(&["[agent]", "gateway_id = dc1-gw01"]);
    let e = one_error(&src);
    assert_eq!((e.line, e.column), (2, 14), "{e}");
    assert_eq!(e.key, "");
    assert!(e.message.starts_with("invalid TOML: "), "{e}");
    assert!(e.message.contains("expected"), "{e}");
    assert!(
        e.to_string().starts_with("test.toml:2:14: invalid TOML: "),
        "{e}"
    );

    let e = one_error(&toml(&["[agent]", "site = \"x\"", "[buffer"]));
    assert_eq!((e.line, e.column), (3, 8), "{e}");
    assert!(e.message.contains("expected `]`"), "{e}");
}

#[test]
fn duplicate_toml_key_is_a_syntax_error() {
    let e = one_error(&toml(&["[agent]", "site = \"a\"", "site = \"b\""]));
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.starts_with("invalid TOML: "), "{e}");
}
