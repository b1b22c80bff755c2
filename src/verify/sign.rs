//! Signing as a sender would: the headers a delivery of each scheme carries. Used by the
//! `webhook` action to sign forwarded requests and by `hookhub sign`/`send` to test a hook
//! by hand, so what hookhub sends is exactly what its own verifiers accept.

use super::{custom, github, linear, shopify, slack, standard, stripe, token};
use crate::clock::Millis;
use crate::model::TriggerConfig;

/// The scheme names [`sign_headers`] can sign for: every scheme but the two whose recipe
/// lives in a hook's config (`header`, `hmac`; see [`sign_headers_for`]).
pub const SIGNABLE: &[&str] = &[
    "github", "gitea", "gitlab", "standard", "stripe", "slack", "shopify", "linear", "bearer",
];

/// The headers a real sender of `scheme` attaches to `body`, in the casing that sender uses
/// (such as `X-Hub-Signature-256`). `now_ms` stamps the timestamped schemes; `message_id` is
/// the delivery id for schemes that sign one (`standard`). The error text explains why the
/// scheme cannot be signed (unknown name, a secret or body that is not valid for it).
pub fn sign_headers(
    scheme: &str,
    secret: &str,
    body: &[u8],
    now_ms: Millis,
    message_id: &str,
) -> Result<Vec<(String, String)>, String> {
    match scheme {
        "github" => Ok(github::sign_github(secret, body)),
        "gitea" => Ok(github::sign_gitea(secret, body)),
        "gitlab" => Ok(token::sign_gitlab(secret)),
        "standard" => standard::sign(secret, body, now_ms, message_id),
        "stripe" => Ok(stripe::sign(secret, body, now_ms)),
        "slack" => Ok(slack::sign(secret, body, now_ms)),
        "shopify" => Ok(shopify::sign(secret, body)),
        "linear" => linear::sign(secret, body, now_ms),
        "bearer" => Ok(token::sign_bearer(secret)),
        "header" | "hmac" => Err(format!(
            "scheme `{scheme}` is defined by a hook's triggerConfig (header, algorithm, …), \
             so it cannot be signed from its name alone; use a named scheme: {}",
            SIGNABLE.join(", ")
        )),
        other => Err(format!(
            "unknown scheme `{other}`; signable schemes: {}",
            SIGNABLE.join(", ")
        )),
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
) -> Result<Vec<(String, String)>, String> {
    match config.scheme_name() {
        "header" => {
            let name = config
                .header
                .clone()
                .ok_or("scheme `header` needs triggerConfig.header")?;
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

    #[test]
    fn config_defined_and_unknown_schemes_are_refused_by_name() {
        for name in ["header", "hmac"] {
            let err = sign_headers(name, "s", BODY, NOW, "m").unwrap_err();
            assert!(err.contains("named scheme"), "{err}");
        }
        let err = sign_headers("nope", "s", BODY, NOW, "m").unwrap_err();
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
