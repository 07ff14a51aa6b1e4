//! Gateway tokens: random, shown once, stored only as a SHA-256 hash and
//! compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix that makes a leaked token recognisable (e.g. by secret scanners).
const PREFIX: &str = "etg_";

/// A fresh token: `etg_` + 64 hex characters (256 random bits).
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{PREFIX}{hex}"))
}

/// The stored form of a token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// True when `token` hashes to `stored`, compared in constant time.
pub fn verify(token: &str, stored: &[u8]) -> bool {
    let h = hash(token);
    stored.len() == h.len() && bool::from(h.ct_eq(stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_verify_only_themselves() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("etg_") && a.len() == 68);
        assert!(verify(&a, &hash(&a)));
        assert!(!verify(&b, &hash(&a)));
        assert!(!verify(&a, &hash(&a)[..31]));
    }
}
