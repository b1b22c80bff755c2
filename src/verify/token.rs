//! Schemes where the secret itself travels in a header: GitLab's `X-Gitlab-Token`,
//! `Authorization: Bearer <secret>`, and a header named by `triggerConfig.header`.
//! Nothing is signed, so these suit senders that can do no better; TLS is what protects them.

use sha2::{Digest, Sha256};

use super::{Delivery, Scheme, SecretError, VerifyError, constant_time_eq, header};
use crate::model::stored_digest;

const GITLAB_HEADER: &str = "X-Gitlab-Token";
const AUTHORIZATION: &str = "Authorization";

/// `X-Gitlab-Token: <secret>`.
#[derive(Debug)]
pub struct GitLab;

impl Scheme for GitLab {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        compare_token(header(delivery, GITLAB_HEADER)?, secret, GITLAB_HEADER)
    }

    fn check_secret(&self, secret: &str) -> Result<(), SecretError> {
        check_token(secret)
    }
}

/// `Authorization: Bearer <secret>`.
#[derive(Debug)]
pub struct Bearer;

impl Scheme for Bearer {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        let value = header(delivery, AUTHORIZATION)?.trim();
        // The auth-scheme name is case-insensitive (RFC 9110 §11.1).
        let token = value
            .split_once(' ')
            .filter(|(kind, _)| kind.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| VerifyError::Malformed {
                header: AUTHORIZATION.to_string(),
                reason: "expected Bearer <token>".to_string(),
            })?;
        compare_token(token, secret, AUTHORIZATION)
    }

    fn check_secret(&self, secret: &str) -> Result<(), SecretError> {
        check_token(secret)
    }
}

/// `<triggerConfig.header>: <secret>`.
#[derive(Debug)]
pub struct HeaderToken {
    /// The header's name as the hook's config writes it, so errors echo the user's spelling.
    pub name: String,
}

impl Scheme for HeaderToken {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        compare_token(header(delivery, &self.name)?, secret, &self.name)
    }

    fn check_secret(&self, secret: &str) -> Result<(), SecretError> {
        check_token(secret)
    }
}

/// Refuses a token no sender could present: HTTP strips whitespace around a header value, and
/// a value is read as text only when it is visible ASCII (spaces and tabs inside are fine).
/// Without this such a hook would answer every delivery with a mismatch.
fn check_token(secret: &str) -> Result<(), SecretError> {
    if stored_digest(secret).is_some() {
        return Ok(());
    }
    if secret.trim() != secret {
        return Err(SecretError::TokenWhitespace);
    }
    if !secret
        .bytes()
        .all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\t')
    {
        return Err(SecretError::TokenNotVisible);
    }
    Ok(())
}

/// Compares digests rather than the texts so that neither the time taken nor an early length
/// check tells a guesser how long the secret is. A secret kept as `sha256:<hex>` is compared
/// with the presented token's digest directly.
fn compare_token(given: &str, secret: &str, name: &str) -> Result<(), VerifyError> {
    let given = Sha256::digest(given.trim().as_bytes());
    let expected: [u8; 32] =
        stored_digest(secret).unwrap_or_else(|| Sha256::digest(secret.as_bytes()).into());
    if constant_time_eq(&given, &expected) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch(name.to_string()))
    }
}

/// The header GitLab attaches.
pub fn sign_gitlab(secret: &str) -> Vec<(String, String)> {
    vec![(GITLAB_HEADER.to_string(), secret.to_string())]
}

/// The header a bearer-token sender attaches.
pub fn sign_bearer(secret: &str) -> Vec<(String, String)> {
    vec![(AUTHORIZATION.to_string(), format!("Bearer {secret}"))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hash_token;
    use crate::verify::testing::verify;

    const SECRET: &str = "glpat-token-1234";
    const BODY: &[u8] = b"{}";

    /// Found by the `verify_schemes` fuzzer: a token with a leading tab was accepted in the
    /// config, but the header that carries it is trimmed, so the hook refused every delivery.
    #[test]
    fn tokens_no_header_can_carry_are_refused_up_front() {
        for scheme in [
            &GitLab as &dyn Scheme,
            &Bearer,
            &HeaderToken { name: "X-T".into() },
        ] {
            for bad in ["\tq7", "q7 ", " q7", "q7\n", "qö7", "q\u{0}7"] {
                let err = scheme.check_secret(bad).unwrap_err().to_string();
                assert!(err.contains("no sender could present it"), "{bad:?}: {err}");
                assert!(!err.contains(bad), "the secret is echoed: {err}");
            }
            for good in ["glpat-x_1", "two words", &hash_token("\td")] {
                assert_eq!(scheme.check_secret(good), Ok(()), "{good:?}");
            }
        }
    }

    #[test]
    fn gitlab_token_verifies_and_mismatches() {
        let ok = [(GITLAB_HEADER, SECRET)];
        assert_eq!(verify(&GitLab, &ok, BODY, 0, SECRET), Ok(()));
        assert_eq!(
            verify(
                &GitLab,
                &[(GITLAB_HEADER, "glpat-token-1235")],
                BODY,
                0,
                SECRET
            ),
            Err(VerifyError::Mismatch(GITLAB_HEADER.to_string()))
        );
        assert_eq!(
            verify(&GitLab, &[], BODY, 0, SECRET),
            Err(VerifyError::Missing(GITLAB_HEADER.to_string()))
        );
    }

    #[test]
    fn bearer_accepts_any_case_and_refuses_other_kinds() {
        let lower = format!("bearer {SECRET}");
        assert_eq!(
            verify(&Bearer, &[(AUTHORIZATION, &lower)], BODY, 0, SECRET),
            Ok(())
        );
        let basic = format!("Basic {SECRET}");
        assert!(matches!(
            verify(&Bearer, &[(AUTHORIZATION, &basic)], BODY, 0, SECRET),
            Err(VerifyError::Malformed { .. })
        ));
        assert_eq!(
            verify(&Bearer, &[(AUTHORIZATION, "Bearer nope")], BODY, 0, SECRET),
            Err(VerifyError::Mismatch(AUTHORIZATION.to_string()))
        );
    }

    #[test]
    fn header_token_uses_the_configured_name() {
        let scheme = HeaderToken {
            name: "X-Hook-Secret".to_string(),
        };
        assert_eq!(
            verify(&scheme, &[("x-hook-secret", SECRET)], BODY, 0, SECRET),
            Ok(())
        );
        assert_eq!(
            verify(&scheme, &[("x-hook-secret", "wrong")], BODY, 0, SECRET),
            Err(VerifyError::Mismatch("X-Hook-Secret".to_string()))
        );
        assert_eq!(
            verify(&scheme, &[], BODY, 0, SECRET),
            Err(VerifyError::Missing("X-Hook-Secret".to_string()))
        );
    }

    #[test]
    fn a_hashed_secret_verifies_its_token_and_is_never_hashed_twice() {
        let stored = hash_token(SECRET);
        assert!(stored.starts_with("sha256:") && !stored.contains(SECRET));
        assert_eq!(hash_token(&stored), stored);
        let ok = [(GITLAB_HEADER, SECRET)];
        assert_eq!(verify(&GitLab, &ok, BODY, 0, &stored), Ok(()));
        let bearer = format!("Bearer {SECRET}");
        assert_eq!(
            verify(&Bearer, &[(AUTHORIZATION, &bearer)], BODY, 0, &stored),
            Ok(())
        );
        // Presenting the stored digest itself must not get in.
        assert!(verify(&GitLab, &[(GITLAB_HEADER, &stored)], BODY, 0, &stored).is_err());
        // A `sha256:` text that is not a digest is an ordinary secret.
        assert_eq!(
            verify(&GitLab, &[(GITLAB_HEADER, "sha256:x")], BODY, 0, "sha256:x"),
            Ok(())
        );
    }

    #[test]
    fn a_prefix_of_the_secret_does_not_verify() {
        assert_eq!(
            verify(&GitLab, &[(GITLAB_HEADER, "glpat")], BODY, 0, SECRET),
            Err(VerifyError::Mismatch(GITLAB_HEADER.to_string()))
        );
    }

    #[test]
    fn round_trips() {
        // The body is not signed by these schemes, so only a wrong secret can fail them and
        // the shared round-trip helper's flipped-body check does not apply.
        for (name, scheme) in [("gitlab", &GitLab as &dyn Scheme), ("bearer", &Bearer)] {
            let signed = crate::verify::sign_headers(name, SECRET, BODY, 0, "m").unwrap();
            let pairs: Vec<(&str, &str)> = signed
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            assert_eq!(verify(scheme, &pairs, BODY, 0, SECRET), Ok(()), "{name}");
            assert!(verify(scheme, &pairs, BODY, 0, "other").is_err(), "{name}");
        }
    }
}
