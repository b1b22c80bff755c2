//! Standard Webhooks (and Svix, which it grew from): `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, or the same headers
//! named `svix-*`. The signature header may carry several space-separated entries while a
//! sender rotates keys; any one matching is enough.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::mac::{
    DEFAULT_TOLERANCE_SECS, any_matches, check_timestamp, hmac_sha256, parse_unix_seconds,
};
use super::{Delivery, Replay, Scheme, SecretError, Signed, VerifyError, header};
use crate::clock::Millis;

/// The header names of one family: `webhook-*` (the standard) or `svix-*`.
struct Names {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const WEBHOOK: Names = Names {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};

const SVIX: Names = Names {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

/// The `whsec_` prefix marks a base64 key; without it the secret's own bytes are the key.
const KEY_PREFIX: &str = "whsec_";

#[derive(Debug)]
pub struct Standard;

impl Scheme for Standard {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        let names = names(delivery);
        let id = header(delivery, names.id)?;
        let timestamp = header(delivery, names.timestamp)?;
        let signatures = header(delivery, names.signature)?;
        let sent_ms = parse_unix_seconds(timestamp, names.timestamp)?;
        let Ok(key) = key(secret) else {
            // `check_secret` refuses such a secret when the hook is built; stay safe regardless.
            return Err(VerifyError::Mismatch(names.signature.to_string()));
        };
        let expected = hmac_sha256(
            &key,
            &[
                id.as_bytes(),
                b".",
                timestamp.trim().as_bytes(),
                b".",
                delivery.body,
            ],
        );
        match_any(signatures, &expected, names.signature)?;
        // The signature is checked first so that only a genuine sender learns its clock is off.
        check_timestamp(
            delivery.now_ms,
            sent_ms,
            DEFAULT_TOLERANCE_SECS,
            names.timestamp,
        )
    }

    fn check_secret(&self, secret: &str) -> Result<(), SecretError> {
        key(secret).map(|_| ())
    }

    /// The signed `webhook-id` is the delivery id, and id, timestamp and body are what a
    /// replay would repeat.
    fn signed(&self, delivery: &Delivery<'_>) -> Signed {
        let names = names(delivery);
        let (Ok(id), Ok(timestamp)) = (
            header(delivery, names.id),
            header(delivery, names.timestamp),
        ) else {
            return Signed::default();
        };
        let parts: [&[u8]; 3] = [id.as_bytes(), timestamp.trim().as_bytes(), delivery.body];
        Signed {
            id: Some(id.to_string()),
            replay: Some(Replay::of(&parts, DEFAULT_TOLERANCE_SECS)),
        }
    }
}

/// The header family a delivery uses: Svix senders use their own prefix; the standard's names
/// are reported when neither is there.
fn names(delivery: &Delivery<'_>) -> &'static Names {
    if delivery.headers.contains_key(SVIX.id) && !delivery.headers.contains_key(WEBHOOK.id) {
        &SVIX
    } else {
        &WEBHOOK
    }
}

/// Ok when any `v1,<base64>` entry of the space-separated list equals `expected`.
fn match_any(signatures: &str, expected: &[u8], name: &str) -> Result<(), VerifyError> {
    let v1: Vec<&str> = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .collect();
    if v1.is_empty() {
        return Err(VerifyError::Malformed {
            header: name.to_string(),
            reason: "expected one or more space-separated v1,<base64> entries".to_string(),
        });
    }
    let matched = any_matches(
        expected,
        v1.into_iter().filter_map(|e| BASE64.decode(e).ok()),
    );
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch(name.to_string()))
    }
}

/// The HMAC key a secret stands for.
pub fn key(secret: &str) -> Result<Vec<u8>, SecretError> {
    match secret.strip_prefix(KEY_PREFIX) {
        Some(encoded) => BASE64.decode(encoded).map_err(|_| SecretError::NotBase64),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// The three headers a Standard Webhooks sender attaches.
pub fn sign(
    secret: &str,
    body: &[u8],
    now_ms: Millis,
    message_id: &str,
) -> Result<Vec<(String, String)>, SecretError> {
    let key = key(secret)?;
    let timestamp = (now_ms / 1000).to_string();
    let mac = hmac_sha256(
        &key,
        &[
            message_id.as_bytes(),
            b".",
            timestamp.as_bytes(),
            b".",
            body,
        ],
    );
    Ok(vec![
        (WEBHOOK.id.to_string(), message_id.to_string()),
        (WEBHOOK.timestamp.to_string(), timestamp),
        (
            WEBHOOK.signature.to_string(),
            format!("v1,{}", BASE64.encode(mac)),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_round_trip, verify};

    // The Standard Webhooks specification's own example.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: &str = "1614265330";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const NOW: Millis = 1_614_265_330_000 + 42_000;

    fn pairs(sig: &str) -> Vec<(&'static str, String)> {
        vec![
            ("webhook-id", ID.to_string()),
            ("webhook-timestamp", TS.to_string()),
            ("webhook-signature", sig.to_string()),
        ]
    }

    fn check(
        pairs: &[(&str, String)],
        body: &[u8],
        now: Millis,
        secret: &str,
    ) -> Result<(), VerifyError> {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        verify(&Standard, &refs, body, now, secret)
    }

    #[test]
    fn spec_vector_verifies() {
        assert_eq!(check(&pairs(SIG), BODY, NOW, SECRET), Ok(()));
    }

    #[test]
    fn svix_header_names_verify() {
        let svix: Vec<(&str, String)> = pairs(SIG)
            .into_iter()
            .map(|(n, v)| (n.replace("webhook-", "svix-").leak() as &str, v))
            .collect();
        assert_eq!(check(&svix, BODY, NOW, SECRET), Ok(()));
    }

    #[test]
    fn any_of_several_signatures_verifies() {
        let several = format!("v1,bm9wZQ== v1a,ignored {SIG} v2,zzz");
        assert_eq!(check(&pairs(&several), BODY, NOW, SECRET), Ok(()));
    }

    #[test]
    fn flipped_body_and_wrong_secret_mismatch() {
        let mismatch = Err(VerifyError::Mismatch("webhook-signature".into()));
        assert_eq!(
            check(&pairs(SIG), br#"{"test": 2432232315}"#, NOW, SECRET),
            mismatch
        );
        assert_eq!(
            check(&pairs(SIG), BODY, NOW, "whsec_bm90IHRoZSBrZXk="),
            mismatch
        );
    }

    #[test]
    fn stale_or_future_timestamp_is_out_of_tolerance() {
        let out = Err(VerifyError::TimestampOutOfTolerance {
            header: "webhook-timestamp".into(),
            tolerance_secs: 300,
        });
        let ts_ms = 1_614_265_330_000;
        assert_eq!(check(&pairs(SIG), BODY, ts_ms + 301_000, SECRET), out);
        assert_eq!(check(&pairs(SIG), BODY, ts_ms - 301_000, SECRET), out);
        assert_eq!(check(&pairs(SIG), BODY, ts_ms - 299_000, SECRET), Ok(()));
    }

    #[test]
    fn missing_headers_are_named() {
        let mut p = pairs(SIG);
        p.remove(2);
        assert_eq!(
            check(&p, BODY, NOW, SECRET),
            Err(VerifyError::Missing("webhook-signature".into()))
        );
        assert_eq!(
            check(&[], BODY, NOW, SECRET),
            Err(VerifyError::Missing("webhook-id".into()))
        );
    }

    #[test]
    fn sign_reproduces_spec_vector() {
        let signed = sign(SECRET, BODY, 1_614_265_330_999, ID).unwrap();
        assert_eq!(signed[1], ("webhook-timestamp".to_string(), TS.to_string()));
        assert_eq!(
            signed[2],
            ("webhook-signature".to_string(), SIG.to_string())
        );
    }

    #[test]
    fn round_trip_with_whsec_and_plain_secrets() {
        assert_round_trip(
            "standard",
            &Standard,
            SECRET,
            BODY,
            NOW,
            "webhook-signature",
        );
        assert_round_trip(
            "standard",
            &Standard,
            "plain secret",
            BODY,
            NOW,
            "webhook-signature",
        );
    }

    #[test]
    fn bad_whsec_secret_is_refused_at_build() {
        assert!(Standard.check_secret("whsec_not*base64").is_err());
        assert!(
            Standard
                .check_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .is_ok()
        );
    }
}
