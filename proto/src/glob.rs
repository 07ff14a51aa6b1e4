//! The glob syntax both sides use for sensor and gateway patterns: `*` matches
//! any run of characters, `?` one character.

/// True when `text` matches `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with single-star backtracking: linear-ish, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("rack*-inlet", "rack1-inlet"));
        assert!(glob_match("rack*-inlet", "rack12-inlet"));
        assert!(!glob_match("rack*-inlet", "rack1-outlet"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("cpu", "cpu"));
        assert!(!glob_match("cpu", "cpu2"));
        assert!(glob_match("cpu?", "cpu2"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
    }
}
