//! Which request headers are secrets: stored as `[redacted]` in the execution log.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use crate::model::REDACTED;

/// Headers that always carry credentials or signatures.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-gitea-signature",
    "x-gogs-signature",
    "x-gitlab-token",
    "webhook-signature",
    "svix-signature",
    "stripe-signature",
    "x-slack-signature",
    "x-shopify-hmac-sha256",
    "linear-signature",
];

/// Words that mark a header as secret wherever they appear in its name.
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "signature",
    "password",
    "api-key",
    "apikey",
];

/// Lower-cased headers with secrets redacted. `extra` names more secret headers (the custom
/// `triggerConfig.header` of the hooks on the path).
pub fn headers(headers: &HeaderMap, extra: &[String]) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            // `http` keeps header names lower-cased.
            let name = name.as_str();
            let value = if is_secret(name, extra) {
                REDACTED.to_string()
            } else {
                // Visible ASCII, nearly every header, is taken as it is; the rest as UTF-8.
                match value.to_str() {
                    Ok(text) => text.to_string(),
                    Err(_) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
                }
            };
            (name.to_string(), value)
        })
        .collect()
}

fn is_secret(name: &str, extra: &[String]) -> bool {
    SECRET_HEADERS.contains(&name)
        || SECRET_WORDS.iter().any(|w| contains(name, w))
        || extra.iter().any(|e| e.eq_ignore_ascii_case(name))
}

/// Whether `word` occurs in `name`. A plain scan: `str::contains` prepares a searcher on every
/// call, and for six words against every header of every delivery that cost more than the rest
/// of the redaction (~9,000 instructions a delivery in callgrind).
fn contains(name: &str, word: &str) -> bool {
    let (name, word) = (name.as_bytes(), word.as_bytes());
    let Some(&first) = word.first() else {
        return true;
    };
    name.windows(word.len())
        .any(|at| at[0] == first && at == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_the_rest_kept() {
        let mut h = HeaderMap::new();
        h.insert("Authorization", "Bearer abc".parse().unwrap());
        h.insert("X-Hub-Signature-256", "sha256=00".parse().unwrap());
        h.insert("X-My-Key", "k".parse().unwrap());
        h.insert("X-Api-Token", "t".parse().unwrap());
        h.insert("Content-Type", "application/json".parse().unwrap());
        let out = headers(&h, &["X-My-Key".to_string()]);
        assert_eq!(out["authorization"], REDACTED);
        assert_eq!(out["x-hub-signature-256"], REDACTED);
        assert_eq!(out["x-my-key"], REDACTED);
        assert_eq!(out["x-api-token"], REDACTED);
        assert_eq!(out["content-type"], "application/json");
    }

    #[test]
    fn values_that_are_not_ascii_are_kept_as_utf8_text() {
        let mut h = HeaderMap::new();
        let value = |bytes: &[u8]| axum::http::HeaderValue::from_bytes(bytes).unwrap();
        h.insert("x-city", value("Gen\u{e8}ve".as_bytes()));
        h.insert("x-latin1", value(b"caf\xe9"));
        h.insert("x-plain", value(b"a b\tc"));
        let out = headers(&h, &[]);
        assert_eq!(out["x-city"], "Gen\u{e8}ve");
        assert_eq!(out["x-latin1"], "caf\u{fffd}");
        assert_eq!(out["x-plain"], "a b\tc");
    }

    #[test]
    fn a_secret_word_is_found_anywhere_in_the_name() {
        for name in [
            "token",
            "x-token",
            "x-tokens-used",
            "my-secret-header",
            "xsignature",
        ] {
            assert!(is_secret(name, &[]), "{name}");
        }
        for name in ["tok", "x-toke-n", "content-length", "x-sig", "s"] {
            assert!(!is_secret(name, &[]), "{name}");
        }
    }
}
