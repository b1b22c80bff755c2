//! Verifying who sent a delivery (SPEC §5). Each scheme is a [`Scheme`] found by name in
//! [`build`]; the ingress handler only ever talks to a [`Verifier`], so new schemes slot in here
//! without touching it. Comparisons are constant-time. This module never sees the network.

mod custom;
mod github;
mod linear;
mod mac;
mod shopify;
mod sign;
mod slack;
mod standard;
mod stripe;
#[cfg(test)]
mod testing;
mod token;

pub use sign::{SignError, sign_headers, sign_headers_for};
pub use slack::Slack as SlackScheme;

use std::fmt;

use axum::http::HeaderMap;

use crate::clock::Millis;
use crate::model::TriggerConfig;

/// What a scheme looks at.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub now_ms: Millis,
}

/// Why a delivery was not verified. The text names the header, never a secret; the answer it
/// becomes (401 `auth_invalid`, or `timestamp_out_of_tolerance`) is chosen in `crate::error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("hook has no secret configured; deliveries to it are always refused")]
    NoSecret,
    #[error("missing header {0}")]
    Missing(String),
    #[error("header {header} is malformed: {reason}")]
    Malformed { header: String, reason: String },
    #[error("signature in {0} does not match")]
    Mismatch(String),
    #[error("timestamp in {header} is outside the {tolerance_secs} s tolerance")]
    TimestampOutOfTolerance { header: String, tolerance_secs: u64 },
}

/// Why a trigger config cannot make a verifier. The text names the `triggerConfig` field to
/// fix; config validation files the error under that field (`crate::config::validate`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemeError {
    #[error("unknown scheme `{0}`; known: {known}", known = SCHEMES.join(", "))]
    Unknown(String),
    #[error("scheme `header` needs triggerConfig.header (the header carrying the secret)")]
    NoTokenHeader,
    #[error("triggerConfig.{field} {why}")]
    UnusedField { field: &'static str, why: NotUsedBy },
    #[error(
        "triggerConfig.{field}: `{}` is not an HTTP header name (letters, digits and \
         !#$%&'*+-.^_`|~ only)",
        .name.escape_debug()
    )]
    HeaderName { field: &'static str, name: String },
    #[error("webhookSecret[{index}]: {error}")]
    Secret { index: usize, error: SecretError },
    // The `hmac` scheme's recipe (`custom.rs`).
    #[error("scheme `hmac` needs triggerConfig.header (the header carrying the signature)")]
    NoSignatureHeader,
    #[error(
        "triggerConfig.prefix: `{}` may hold only visible ASCII without spaces \
         (signatures in the header are separated by spaces)",
        .0.escape_debug()
    )]
    Prefix(String),
    #[error("triggerConfig.algorithm: `{0}` is not one of sha1, sha256, sha512")]
    Algorithm(String),
    #[error("triggerConfig.encoding: `{0}` is not one of hex, base64")]
    Encoding(String),
    #[error(
        "triggerConfig.signedPayload: only {{timestamp}} and {{body}} may appear in braces, in `{0}`"
    )]
    PayloadPart(String),
    #[error("triggerConfig.signedPayload must contain {{body}}")]
    PayloadWithoutBody,
    #[error("triggerConfig.timestampHeader is needed when signedPayload contains {{timestamp}}")]
    NoTimestampHeader,
    #[error("triggerConfig.timestampHeader is only used when signedPayload contains {{timestamp}}")]
    UnsignedTimestampHeader,
    #[error("triggerConfig.tolerance is only used when signedPayload contains {{timestamp}}")]
    UnsignedTolerance,
}

/// What is wrong with a field a scheme does not read: the scheme's name, and the way out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not used by scheme `{0}`; remove it or choose scheme `hmac`")]
pub struct NotUsedBy(String);

/// A secret the scheme can never verify with. The text never quotes the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a secret starting with whsec_ must continue with base64")]
    NotBase64,
    #[error(
        "the token starts or ends with whitespace, which HTTP strips from a header, \
         so no sender could present it"
    )]
    TokenWhitespace,
    #[error(
        "the token has characters other than visible ASCII, which a header cannot \
         carry as text, so no sender could present it"
    )]
    TokenNotVisible,
}

/// What a verified delivery's signature covers besides the body (SPEC §4 step 7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signed {
    /// A delivery id the signature covers (`webhook-id`): it is the delivery id, and no
    /// unsigned header may stand in for it.
    pub id: Option<String>,
    /// For signatures over a timestamp: what makes a repeat of this exact signature a replay.
    pub replay: Option<Replay>,
}

/// A signature's fingerprint and how long it must be remembered to refuse it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// A digest of exactly the signed bytes, so re-encoding the signature header or adding
    /// entries to it does not make a new key.
    pub key: String,
    /// Twice the tolerance: a timestamp may be that far ahead of our clock and still pass.
    pub window_ms: Millis,
}

impl Replay {
    /// The fingerprint of the signed `parts`, each length-prefixed so that where one ends
    /// and the next begins is part of what is hashed.
    pub fn of(parts: &[&[u8]], tolerance_secs: u64) -> Self {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for part in parts {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        Self {
            key: format!("sig:{}", hex::encode(hash.finalize())),
            window_ms: tolerance_secs.saturating_mul(2000),
        }
    }
}

/// A verification scheme: checks one delivery against one secret.
pub trait Scheme: Send + Sync + fmt::Debug {
    /// Ok when `delivery` was sent by someone holding `secret`.
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError>;

    /// What the signature of a delivery this scheme verified covers besides the body.
    fn signed(&self, _delivery: &Delivery<'_>) -> Signed {
        Signed::default()
    }

    /// Refuses a secret this scheme can never verify with (such as a `whsec_` key that is not
    /// base64), so the mistake shows up as a config error instead of every delivery failing.
    fn check_secret(&self, _secret: &str) -> Result<(), SecretError> {
        Ok(())
    }
}

/// A hook's verifier: its scheme and its secrets, any one of which may verify. A secret
/// retiring after a rotation carries the time (ms) from which it no longer verifies.
#[derive(Debug)]
pub struct Verifier {
    scheme: Box<dyn Scheme>,
    secrets: Vec<(String, Option<Millis>)>,
}

impl Verifier {
    /// Builds the verifier a trigger config asks for. The error text explains what is wrong
    /// with the config, for `triggerConfig.scheme` (or the field it names).
    pub fn new(config: &TriggerConfig) -> Result<Self, SchemeError> {
        let scheme = build(config)?;
        for (index, secret) in config.webhook_secret.iter().enumerate() {
            scheme
                .check_secret(secret)
                .map_err(|error| SchemeError::Secret { index, error })?;
        }
        let current = config.webhook_secret.iter().map(|s| (s.to_string(), None));
        let retiring = config
            .retiring_secrets
            .iter()
            .map(|r| (r.secret.clone(), Some(r.valid_until)));
        Ok(Self {
            scheme,
            secrets: current.chain(retiring).collect(),
        })
    }

    /// Ok when any secret in force at `delivery.now_ms` verifies. With several secrets, a
    /// stale timestamp wins over the others' mismatches (schemes check it only once the
    /// signature matched, so that secret was the right one); otherwise the first secret's
    /// error is reported.
    pub fn verify(&self, delivery: &Delivery<'_>) -> Result<(), VerifyError> {
        let mut reported = None;
        let in_force = self
            .secrets
            .iter()
            .filter(|(_, until)| until.is_none_or(|t| delivery.now_ms < t));
        for (secret, _) in in_force {
            match self.scheme.verify(delivery, secret) {
                Ok(()) => return Ok(()),
                Err(e @ VerifyError::TimestampOutOfTolerance { .. }) => reported = Some(e),
                Err(e) => {
                    reported.get_or_insert(e);
                }
            }
        }
        Err(reported.unwrap_or(VerifyError::NoSecret))
    }

    /// What the signature of a delivery [`Verifier::verify`] accepted covers.
    pub fn signed(&self, delivery: &Delivery<'_>) -> Signed {
        self.scheme.signed(delivery)
    }
}

/// The scheme registry: a name to an implementation. The error text names the
/// `triggerConfig` field to fix, including fields set for a scheme that does not use them, so
/// a misplaced setting is not silently ignored.
pub fn build(config: &TriggerConfig) -> Result<Box<dyn Scheme>, SchemeError> {
    let name = config.scheme_name();
    refuse_unused_fields(config, name)?;
    Ok(match name {
        "github" => Box::new(github::GitHub),
        "gitea" => Box::new(github::Gitea),
        "gitlab" => Box::new(token::GitLab),
        "standard" => Box::new(standard::Standard),
        "stripe" => Box::new(stripe::Stripe),
        "slack" => Box::new(slack::Slack),
        "shopify" => Box::new(shopify::Shopify),
        "linear" => Box::new(linear::Linear),
        "bearer" => Box::new(token::Bearer),
        "header" => {
            let name = config.header.clone().ok_or(SchemeError::NoTokenHeader)?;
            check_header_name("header", &name)?;
            Box::new(token::HeaderToken { name })
        }
        "hmac" => Box::new(custom::Custom::from_config(config)?),
        other => return Err(SchemeError::Unknown(other.to_string())),
    })
}

/// The names [`build`] knows.
pub const SCHEMES: &[&str] = &[
    "github", "gitea", "gitlab", "standard", "stripe", "slack", "shopify", "linear", "bearer",
    "header", "hmac",
];

/// Refuses scheme settings the named scheme does not read.
fn refuse_unused_fields(config: &TriggerConfig, scheme: &str) -> Result<(), SchemeError> {
    const HMAC: &[&str] = &["hmac"];
    const HEADER_OR_HMAC: &[&str] = &["header", "hmac"];
    let fields = [
        ("header", config.header.is_some(), HEADER_OR_HMAC),
        ("algorithm", config.algorithm.is_some(), HMAC),
        ("encoding", config.encoding.is_some(), HMAC),
        ("prefix", config.prefix.is_some(), HMAC),
        ("signedPayload", config.signed_payload.is_some(), HMAC),
        ("timestampHeader", config.timestamp_header.is_some(), HMAC),
        ("tolerance", config.tolerance.is_some(), HMAC),
    ];
    let known = SCHEMES.contains(&scheme);
    match fields
        .iter()
        .find(|(_, set, used_by)| known && *set && !used_by.contains(&scheme))
    {
        Some((field, ..)) => Err(SchemeError::UnusedField {
            field,
            why: NotUsedBy(scheme.to_string()),
        }),
        None => Ok(()),
    }
}

/// Refuses a `triggerConfig.<field>` that is not an HTTP header name: no delivery could carry
/// it, so the hook would refuse everything with "missing header".
fn check_header_name(field: &'static str, name: &str) -> Result<(), SchemeError> {
    match axum::http::HeaderName::from_bytes(name.as_bytes()) {
        Ok(_) => Ok(()),
        Err(_) => Err(SchemeError::HeaderName {
            field,
            name: name.to_string(),
        }),
    }
}

/// Constant-time equality of two byte strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A header's value as text, or `Missing`.
pub fn header<'a>(delivery: &'a Delivery<'_>, name: &str) -> Result<&'a str, VerifyError> {
    let value = delivery
        .headers
        .get(name)
        .ok_or_else(|| VerifyError::Missing(name.to_string()))?;
    value.to_str().map_err(|_| VerifyError::Malformed {
        header: name.to_string(),
        reason: "not visible ASCII".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Secrets;
    use crate::verify::testing::headers;

    fn config(scheme: &str, secrets: &[&str]) -> TriggerConfig {
        TriggerConfig {
            scheme: Some(scheme.to_string()),
            webhook_secret: Secrets(secrets.iter().map(|s| s.to_string()).collect()),
            ..TriggerConfig::default()
        }
    }

    #[test]
    fn any_secret_verifies_and_none_is_refused() {
        let body = b"{}";
        let signed = sign_headers("github", "new", body, 0, "m").unwrap();
        let map = headers(&[(&signed[0].0, &signed[0].1)]);
        let delivery = Delivery {
            headers: &map,
            body,
            now_ms: 0,
        };
        let verifier = Verifier::new(&config("github", &["old", "new"])).unwrap();
        assert_eq!(verifier.verify(&delivery), Ok(()));
        let none = Verifier::new(&config("github", &[])).unwrap();
        assert_eq!(none.verify(&delivery), Err(VerifyError::NoSecret));
    }

    #[test]
    fn a_retiring_secret_verifies_until_its_time() {
        let body = b"{}";
        let signed = sign_headers("github", "old", body, 0, "m").unwrap();
        let map = headers(&[(&signed[0].0, &signed[0].1)]);
        let mut rotated = config("github", &["new"]);
        rotated.retiring_secrets = vec![crate::model::RetiringSecret {
            secret: "old".into(),
            valid_until: 5_000,
        }];
        let verifier = Verifier::new(&rotated).unwrap();
        let at = |now_ms| Delivery {
            headers: &map,
            body,
            now_ms,
        };
        assert_eq!(verifier.verify(&at(4_999)), Ok(()));
        assert!(matches!(
            verifier.verify(&at(5_000)),
            Err(VerifyError::Mismatch(_))
        ));
    }

    #[test]
    fn stale_timestamp_is_reported_over_other_secrets_mismatch() {
        let body = b"{}";
        let signed = sign_headers("stripe", "right", body, 1_000_000_000_000, "m").unwrap();
        let map = headers(&[(&signed[0].0, &signed[0].1)]);
        let later = 1_000_000_000_000 + 600_000;
        let delivery = Delivery {
            headers: &map,
            body,
            now_ms: later,
        };
        let verifier = Verifier::new(&config("stripe", &["wrong", "right"])).unwrap();
        assert!(matches!(
            verifier.verify(&delivery),
            Err(VerifyError::TimestampOutOfTolerance { .. })
        ));
    }

    /// What a replay would repeat is fingerprinted from the signed bytes alone, so headers the
    /// signature does not cover (an extra signature entry, a delivery header) change nothing.
    #[test]
    fn a_replay_keeps_its_fingerprint_and_a_new_delivery_gets_another() {
        let signed_by = |scheme: &str, body: &[u8], now_ms, extra: &[(&str, &str)]| {
            let mut pairs = sign_headers(scheme, "whsec_c2VjcmV0", body, now_ms, "msg_1").unwrap();
            pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let map = headers(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>(),
            );
            let scheme = build(&config(scheme, &[])).unwrap();
            let delivery = Delivery {
                headers: &map,
                body,
                now_ms,
            };
            scheme.signed(&delivery)
        };
        for scheme in ["standard", "stripe", "slack"] {
            let first = signed_by(scheme, b"{}", 1_700_000_000_000, &[]);
            let replay = signed_by(
                scheme,
                b"{}",
                1_700_000_000_000,
                &[("x-github-delivery", "new")],
            );
            assert_eq!(first, replay, "{scheme}");
            let replay = first.replay.clone().unwrap();
            assert_eq!(replay.window_ms, 600_000);
            let later = signed_by(scheme, b"{}", 1_700_000_001_000, &[]);
            assert_ne!(later.replay.unwrap().key, replay.key, "{scheme}");
            let other = signed_by(scheme, b"{ }", 1_700_000_000_000, &[]);
            assert_ne!(other.replay.unwrap().key, replay.key, "{scheme}");
        }
        let standard = signed_by("standard", b"{}", 0, &[]);
        assert_eq!(standard.id.as_deref(), Some("msg_1"));
        assert_eq!(signed_by("github", b"{}", 0, &[]), Signed::default());
    }

    /// The texts are what config errors, the UI and `hookhub sign` show: pinned whole, as they
    /// read when they were strings.
    #[test]
    fn config_errors_keep_their_text() {
        let text = |c: TriggerConfig| Verifier::new(&c).err().unwrap().to_string();
        let hmac = |set: fn(&mut TriggerConfig)| {
            let mut c = TriggerConfig {
                header: Some("X-Sig".into()),
                ..config("hmac", &[])
            };
            set(&mut c);
            text(c)
        };
        let cases = [
            (
                text(config("nope", &[])),
                "unknown scheme `nope`; known: github, gitea, gitlab, standard, stripe, slack, \
                 shopify, linear, bearer, header, hmac",
            ),
            (
                text(config("header", &[])),
                "scheme `header` needs triggerConfig.header (the header carrying the secret)",
            ),
            (
                text(TriggerConfig {
                    prefix: Some("v1=".into()),
                    ..config("github", &[])
                }),
                "triggerConfig.prefix is not used by scheme `github`; remove it or choose \
                 scheme `hmac`",
            ),
            (
                text(config("standard", &["whsec_!!"])),
                "webhookSecret[0]: a secret starting with whsec_ must continue with base64",
            ),
            (
                text(config("bearer", &["ok", " t"])),
                "webhookSecret[1]: the token starts or ends with whitespace, which HTTP strips \
                 from a header, so no sender could present it",
            ),
            (
                text(TriggerConfig {
                    header: Some("X\tA".into()),
                    ..config("header", &[])
                }),
                "triggerConfig.header: `X\\tA` is not an HTTP header name (letters, digits and \
                 !#$%&'*+-.^_`|~ only)",
            ),
            (
                text(config("hmac", &[])),
                "scheme `hmac` needs triggerConfig.header (the header carrying the signature)",
            ),
            (
                hmac(|c| c.prefix = Some("a b".into())),
                "triggerConfig.prefix: `a b` may hold only visible ASCII without spaces \
                 (signatures in the header are separated by spaces)",
            ),
            (
                hmac(|c| c.algorithm = Some("md5".into())),
                "triggerConfig.algorithm: `md5` is not one of sha1, sha256, sha512",
            ),
            (
                hmac(|c| c.encoding = Some("Base32".into())),
                "triggerConfig.encoding: `base32` is not one of hex, base64",
            ),
            (
                hmac(|c| c.signed_payload = Some("{id}.{body}".into())),
                "triggerConfig.signedPayload: only {timestamp} and {body} may appear in braces, \
                 in `{id}.{body}`",
            ),
            (
                hmac(|c| c.signed_payload = Some("{timestamp}".into())),
                "triggerConfig.signedPayload must contain {body}",
            ),
            (
                hmac(|c| c.signed_payload = Some("{timestamp}.{body}".into())),
                "triggerConfig.timestampHeader is needed when signedPayload contains {timestamp}",
            ),
            (
                hmac(|c| c.timestamp_header = Some("X-T".into())),
                "triggerConfig.timestampHeader is only used when signedPayload contains \
                 {timestamp}",
            ),
            (
                hmac(|c| c.tolerance = Some(std::time::Duration::from_secs(9))),
                "triggerConfig.tolerance is only used when signedPayload contains {timestamp}",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn build_names_the_field_to_fix() {
        let err = |c: TriggerConfig| build(&c).err().unwrap().to_string();
        assert!(err(config("header", &[])).contains("scheme `header` needs triggerConfig.header"));
        assert!(err(config("nope", &[])).contains("unknown scheme `nope`; known: github"));
        let misplaced = TriggerConfig {
            algorithm: Some("sha1".into()),
            ..config("github", &[])
        };
        assert!(err(misplaced).contains("triggerConfig.algorithm is not used by scheme `github`"));
        let bad_key = Verifier::new(&config("standard", &["whsec_!!"]))
            .err()
            .unwrap()
            .to_string();
        assert!(
            bad_key.starts_with("webhookSecret[0]:") && !bad_key.contains("!!"),
            "{bad_key}"
        );
        for name in SCHEMES.iter().filter(|n| !["header", "hmac"].contains(n)) {
            assert!(build(&config(name, &[])).is_ok(), "{name}");
        }
    }
}
