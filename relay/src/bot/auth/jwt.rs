//! The parts of a JWS compact token that are read before (and around) the
//! signature check, and short, token-free excerpts for error messages.

use serde_json::{Map, Value};

use super::AuthError;

/// Longest excerpt of a token-supplied value put into an error message.
const MAX_EXCERPT: usize = 80;

/// Checks the JOSE header: `alg` must be RS256; returns the `kid`.
pub(super) fn check_header(token: &str) -> Result<String, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed("not three dot-separated parts".into()));
    };
    let bytes = b64url_decode(header)
        .ok_or_else(|| AuthError::Malformed("header is not base64url".into()))?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("header is not a JSON object".into()))?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "RS256" => {}
        Some(Value::String(alg)) => return Err(AuthError::Algorithm(excerpt(alg))),
        other => return Err(AuthError::Algorithm(claim_excerpt(other))),
    }
    match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => Ok(kid.clone()),
        _ => Err(AuthError::Malformed("header has no kid".into())),
    }
}

/// The claims of a token whose signature is not checked yet: only to pick
/// the key set its issuer publishes, never to trust anything.
pub(super) fn unverified_claims(token: &str) -> Result<Map<String, Value>, AuthError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| AuthError::Malformed("not three dot-separated parts".into()))?;
    let bytes = b64url_decode(payload)
        .ok_or_else(|| AuthError::Malformed("payload is not base64url".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("payload is not a JSON object".into()))
}

/// Maps the library's errors (signature, time, format) to ours; `set`
/// names the key set for a key that turned out unusable.
pub(super) fn map_jwt_error(e: jsonwebtoken::errors::Error, set: &'static str) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => AuthError::Signature,
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidAlgorithm | K::InvalidAlgorithmName => AuthError::Algorithm("not RS256".into()),
        K::MissingRequiredClaim(c) => AuthError::Malformed(format!("no {c} claim")),
        K::InvalidClaimFormat(c) => AuthError::Malformed(format!("claim {c} is not a number")),
        K::Base64(_) => AuthError::Malformed("not base64url".into()),
        K::Json(_) => AuthError::Malformed("not JSON".into()),
        K::Utf8(_) => AuthError::Malformed("not UTF-8".into()),
        K::InvalidRsaKey(_) | K::InvalidKeyFormat | K::Provider(_) => AuthError::Keys {
            set,
            detail: "the published key cannot verify RS256".into(),
        },
        other => AuthError::Malformed(format!("{other:?}")),
    }
}

/// Equal, ignoring one trailing `/` on either side.
pub(super) fn same_service_url(a: &str, b: &str) -> bool {
    a.strip_suffix('/').unwrap_or(a) == b.strip_suffix('/').unwrap_or(b)
}

/// A short prefix of a token- or activity-supplied string, for messages.
pub(super) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(MAX_EXCERPT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// [`excerpt`] of a claim, or `<missing>`.
pub(super) fn claim_excerpt(v: Option<&Value>) -> String {
    match v {
        None => "<missing>".into(),
        Some(Value::String(s)) => excerpt(s),
        Some(other) => excerpt(&other.to_string()),
    }
}

/// Unpadded base64url (RFC 4648 §5), as JWS segments use; strict.
pub(super) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = s.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = chunk.len() - 1; // bytes this chunk yields
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url() {
        assert_eq!(
            b64url_decode("eyJhbGciOiJSUzI1NiJ9").unwrap(),
            br#"{"alg":"RS256"}"#
        );
        assert_eq!(b64url_decode("").unwrap(), b"");
        assert_eq!(b64url_decode("YQ").unwrap(), b"a");
        assert_eq!(b64url_decode("YWI").unwrap(), b"ab");
        assert_eq!(b64url_decode("_-8").unwrap(), [0xff, 0xef]);
        assert!(b64url_decode("a").is_none());
        assert!(b64url_decode("ab+/").is_none());
        assert!(b64url_decode("ab==").is_none());
    }

    #[test]
    fn excerpts_are_short() {
        let long = "é".repeat(1000);
        assert_eq!(excerpt(&long).chars().count(), MAX_EXCERPT + 1);
        assert_eq!(claim_excerpt(None), "<missing>");
        assert_eq!(claim_excerpt(Some(&Value::from(7))), "7");
    }
}
