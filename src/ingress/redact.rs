//! Which request headers are secrets: stored as `[redacted]` in the execution log.

use std::borrow::Cow;

use axum::http::HeaderMap;

use crate::execution::Headers;
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
pub fn headers(headers: &HeaderMap, extra: &[String]) -> Headers {
    headers
        .iter()
        .map(|(name, value)| {
            // `http` keeps header names lower-cased.
            let name = name.as_str();
            let (kept, secret) = match known(name) {
                Some((name, secret)) => (Cow::Borrowed(name), secret || is_extra(name, extra)),
                None => (Cow::Owned(name.to_string()), is_secret(name, extra)),
            };
            let value = if secret {
                REDACTED.to_string()
            } else {
                // Visible ASCII, nearly every header, is taken as it is; the rest as UTF-8.
                match value.to_str() {
                    Ok(text) => text.to_string(),
                    Err(_) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
                }
            };
            (kept, value)
        })
        .collect()
}

/// The list of usual header names below.
macro_rules! known_names {
    ($($name:literal),* $(,)?) => {
        /// A usual header name (HTTP's own, proxies', and those of the senders whose schemes
        /// the hub verifies) as a `'static` name, and whether it is always secret
        /// ([`always_secret`], worked out when the hub is built). Such a name is kept borrowed,
        /// not copied for every delivery, and is not searched for secret words again: with the
        /// copy, those were most of the ~700 instructions each header cost.
        fn known(name: &str) -> Option<(&'static str, bool)> {
            match name {
                $($name => Some(($name, const { always_secret($name) })),)*
                _ => None,
            }
        }

        #[cfg(test)]
        const KNOWN: &[&str] = &[$($name),*];
    };
}

known_names!(
    "accept",
    "accept-encoding",
    "authorization",
    "cdn-loop",
    "cf-connecting-ip",
    "cf-ipcountry",
    "cf-ray",
    "cf-visitor",
    "connection",
    "content-length",
    "content-type",
    "host",
    "linear-delivery",
    "linear-event",
    "linear-signature",
    "stripe-signature",
    "svix-id",
    "svix-signature",
    "svix-timestamp",
    "traceparent",
    "user-agent",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-gitea-delivery",
    "x-gitea-event",
    "x-gitea-signature",
    "x-github-delivery",
    "x-github-event",
    "x-github-hook-id",
    "x-github-hook-installation-target-id",
    "x-github-hook-installation-target-type",
    "x-gitlab-event",
    "x-gitlab-event-uuid",
    "x-gitlab-instance",
    "x-gitlab-token",
    "x-gitlab-webhook-uuid",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-real-ip",
    "x-request-id",
    "x-shopify-hmac-sha256",
    "x-shopify-topic",
    "x-slack-request-timestamp",
    "x-slack-signature",
);

fn is_secret(name: &str, extra: &[String]) -> bool {
    always_secret(name) || is_extra(name, extra)
}

/// Whether `name` is secret whatever the hooks say: one of [`SECRET_HEADERS`], or one of
/// [`SECRET_WORDS`] is in it. A `const fn`, so [`known`] has it for the usual names without
/// looking at run time.
const fn always_secret(name: &str) -> bool {
    let name = name.as_bytes();
    let mut i = 0;
    while i < SECRET_HEADERS.len() {
        if SECRET_HEADERS[i].len() == name.len() && starts_at(name, 0, SECRET_HEADERS[i]) {
            return true;
        }
        i += 1;
    }
    let mut i = 0;
    while i < SECRET_WORDS.len() {
        if contains(name, SECRET_WORDS[i]) {
            return true;
        }
        i += 1;
    }
    false
}

/// Whether a hook on the path names `name` as its own secret header.
fn is_extra(name: &str, extra: &[String]) -> bool {
    extra.iter().any(|e| e.eq_ignore_ascii_case(name))
}

/// Whether `word` occurs in `name`. A plain scan: `str::contains` prepares a searcher on every
/// call, and for six words against every header of every delivery that cost more than the rest
/// of the redaction (~9,000 instructions a delivery in callgrind).
const fn contains(name: &[u8], word: &str) -> bool {
    let mut at = 0;
    while at + word.len() <= name.len() {
        if starts_at(name, at, word) {
            return true;
        }
        at += 1;
    }
    false
}

/// Whether `word` is in `name` from byte `at` on (`name` is long enough).
const fn starts_at(name: &[u8], at: usize, word: &str) -> bool {
    let word = word.as_bytes();
    let mut i = 0;
    while i < word.len() {
        if name[at + i] != word[i] {
            return false;
        }
        i += 1;
    }
    true
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
    fn a_usual_name_is_as_secret_as_the_rules_find_it() {
        for &name in KNOWN {
            let secret = is_secret(name, &[]);
            assert_eq!(known(name), Some((name, secret)), "{name}");
        }
        for (name, secret) in [
            ("authorization", true),
            ("x-hub-signature-256", true),
            ("x-gitlab-token", true),
            ("content-type", false),
            ("x-github-event", false),
        ] {
            assert_eq!(known(name), Some((name, secret)), "{name}");
        }
        let mut h = HeaderMap::new();
        h.insert("X-Github-Event", "push".parse().unwrap());
        h.insert("Content-Type", "application/json".parse().unwrap());
        let out = headers(&h, &["x-github-event".to_string()]);
        assert_eq!(
            out["x-github-event"], REDACTED,
            "a hook's own secret header"
        );
        assert_eq!(out["content-type"], "application/json");
    }

    #[test]
    fn usual_names_are_borrowed_and_the_rest_copied_alike() {
        let mut h = HeaderMap::new();
        h.insert("Content-Type", "application/json".parse().unwrap());
        h.insert("X-GitHub-Event", "push".parse().unwrap());
        h.insert("X-Custom-Thing", "1".parse().unwrap());
        let out = headers(&h, &[]);
        let names: Vec<(&str, bool)> = out
            .keys()
            .map(|k| (k.as_ref(), matches!(k, Cow::Borrowed(_))))
            .collect();
        assert_eq!(
            names,
            [
                ("content-type", true),
                ("x-custom-thing", false),
                ("x-github-event", true)
            ]
        );
        assert_eq!(out["x-github-event"], "push");
        assert_eq!(out["x-custom-thing"], "1");
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
