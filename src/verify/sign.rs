//! Signing as a sender would: the headers a delivery of each scheme carries. Used by the
//! `webhook` action to sign forwarded requests and by `hookhub sign`/`send` to test a hook
//! by hand, so what hookhub sends is exactly what its own verifiers accept.

use super::{
    SchemeError, SecretError, custom, github, linear, shopify, slack, standard, stripe, token,
};
use crate::clock::Millis;
use crate::model::TriggerConfig;

/// The scheme names [`sign_headers`] can sign for: every scheme but the two whose recipe
/// lives in a hook's config (`header`, `hmac`; see [`sign_headers_for`]).
pub const SIGNABLE: &[&str] = &[
    "github", "gitea", "gitlab", "standard", "stripe", "slack", "shopify", "linear", "bearer",
];

/// Why a delivery cannot be signed: the text says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error(
        "scheme `{0}` is defined by a hook's triggerConfig (header, algorithm, …), \
         so it cannot be signed from its name alone; use a named scheme: {signable}",
        signable = SIGNABLE.join(", ")
    )]
    NeedsConfig(String),
    #[error("unknown scheme `{0}`; signable schemes: {signable}", signable = SIGNABLE.join(", "))]
    Unknown(String),
    #[error(
        "a linear delivery carries its send time in the JSON body; \
         add \"webhookTimestamp\": {0} to it"
    )]
    NoLinearTimestamp(Millis),
    #[error("scheme `header` needs triggerConfig.header")]
    NoHeader,
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Recipe(#[from] SchemeError),
}

/// The headers a real sender of `scheme` attaches to `body`, in the casing that sender uses
/// (such as `X-Hub-Signature-256`). `now_ms` stamps the timestamped schemes; `message_id` is
/// the delivery id for schemes that sign one (`standard`). The error explains why the
/// scheme cannot be signed (unknown name, a secret or body that is not valid for it).
pub fn sign_headers(
    scheme: &str,
    secret: &str,
    body: &[u8],
    now_ms: Millis,
    message_id: &str,
) -> Result<Vec<(String, String)>, SignError> {
    match scheme {
        "github" => Ok(github::sign_github(secret, body)),
        "gitea" => Ok(github::sign_gitea(secret, body)),
        "gitlab" => Ok(token::sign_gitlab(secret)),
        "standard" => Ok(standard::sign(secret, body, now_ms, message_id)?),
        "stripe" => Ok(stripe::sign(secret, body, now_ms)),
        "slack" => Ok(slack::sign(secret, body, now_ms)),
        "shopify" => Ok(shopify::sign(secret, body)),
        "linear" => linear::sign(secret, body, now_ms),
        "bearer" => Ok(token::sign_bearer(secret)),
        "header" | "hmac" => Err(SignError::NeedsConfig(scheme.to_string())),
        other => Err(SignError::Unknown(other.to_string())),
    }
}

/// Like [`sign_headers`], for a hook's own trigger config, so `header` and `hmac` hooks can
/// be signed too (for example to show a ready `curl` for a hook).
pub fn sign_headers_for(
    config: &TriggerConfig,
    secret: &str,
    body: &[u8],
    now_ms: Millis,
    message_id: &str,
) -> Result<Vec<(String, String)>, SignError> {
    match config.scheme_name() {
        "header" => {
            let name = config.header.clone().ok_or(SignError::NoHeader)?;
            Ok(vec![(name, secret.to_string())])
        }
        "hmac" => Ok(custom::Custom::from_config(config)?.sign(secret, body, now_ms)),
        named => sign_headers(named, secret, body, now_ms, message_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::headers;
    use crate::verify::{Delivery, build};

    const NOW: Millis = 1_700_000_000_000;
    const BODY: &[u8] = br#"{"webhookTimestamp":1700000000000,"a":1}"#;

    /// Every scheme, signed for its config, verifies with the scheme `build` makes.
    #[test]
    fn every_scheme_round_trips_through_build() {
        let configs = SIGNABLE.iter().map(|name| TriggerConfig {
            scheme: Some(name.to_string()),
            ..TriggerConfig::default()
        });
        let header = TriggerConfig {
            scheme: Some("header".to_string()),
            header: Some("X-Token".to_string()),
            ..TriggerConfig::default()
        };
        let hmac = TriggerConfig {
            scheme: Some("hmac".to_string()),
            ..header.clone()
        };
        for config in configs.chain([header, hmac]) {
            let signed = sign_headers_for(&config, "s3cret", BODY, NOW, "msg_1").unwrap();
            let pairs: Vec<(&str, &str)> = signed
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let map = headers(&pairs);
            let delivery = Delivery {
                headers: &map,
                body: BODY,
                now_ms: NOW,
            };
            let scheme = build(&config).unwrap();
            assert_eq!(
                scheme.verify(&delivery, "s3cret"),
                Ok(()),
                "{}",
                config.scheme_name()
            );
            assert!(
                scheme.verify(&delivery, "other").is_err(),
                "{}",
                config.scheme_name()
            );
        }
    }

    /// What `hookhub sign` and `send` print, pinned whole, as it read when it was a string.
    #[test]
    fn sign_errors_keep_their_text() {
        let text = |scheme: &str, secret: &str, body: &[u8]| {
            sign_headers(scheme, secret, body, NOW, "m")
                .unwrap_err()
                .to_string()
        };
        let header = TriggerConfig {
            scheme: Some("header".into()),
            ..TriggerConfig::default()
        };
        let cases = [
            (
                text("hmac", "s", BODY),
                "scheme `hmac` is defined by a hook's triggerConfig (header, algorithm, …), so \
                 it cannot be signed from its name alone; use a named scheme: github, gitea, \
                 gitlab, standard, stripe, slack, shopify, linear, bearer"
                    .to_string(),
            ),
            (
                text("nope", "s", BODY),
                "unknown scheme `nope`; signable schemes: github, gitea, gitlab, standard, \
                 stripe, slack, shopify, linear, bearer"
                    .to_string(),
            ),
            (
                text("linear", "s", b"{}"),
                format!(
                    "a linear delivery carries its send time in the JSON body; add \
                     \"webhookTimestamp\": {NOW} to it"
                ),
            ),
            (
                text("standard", "whsec_!!", BODY),
                "a secret starting with whsec_ must continue with base64".to_string(),
            ),
            (
                sign_headers_for(&header, "s", BODY, NOW, "m")
                    .unwrap_err()
                    .to_string(),
                "scheme `header` needs triggerConfig.header".to_string(),
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn config_defined_and_unknown_schemes_are_refused_by_name() {
        for name in ["header", "hmac"] {
            let err = sign_headers(name, "s", BODY, NOW, "m")
                .unwrap_err()
                .to_string();
            assert!(err.contains("named scheme"), "{err}");
        }
        let err = sign_headers("nope", "s", BODY, NOW, "m")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown scheme `nope`") && err.contains("stripe"),
            "{err}"
        );
    }

    #[test]
    fn bearer_and_gitlab_carry_the_secret() {
        assert_eq!(
            sign_headers("bearer", "t0k", BODY, NOW, "m").unwrap(),
            vec![("Authorization".to_string(), "Bearer t0k".to_string())]
        );
        assert_eq!(
            sign_headers("gitlab", "t0k", BODY, NOW, "m").unwrap(),
            vec![("X-Gitlab-Token".to_string(), "t0k".to_string())]
        );
    }
}
