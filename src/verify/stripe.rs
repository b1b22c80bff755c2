//! Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>,v1=<hex>…`, each `v1` a hex
//! HMAC-SHA256 of `"<t>.<body>"`. Stripe lists several `v1` while a secret is being rolled;
//! any one matching is enough. `v0` (test-mode legacy) entries are ignored.

use super::mac::{
    DEFAULT_TOLERANCE_SECS, any_matches, check_timestamp, hmac_sha256, parse_unix_seconds,
};
use super::{Delivery, Replay, Scheme, Signed, VerifyError, header};
use crate::clock::Millis;

const HEADER: &str = "Stripe-Signature";

#[derive(Debug)]
pub struct Stripe;

impl Scheme for Stripe {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        let value = header(delivery, HEADER)?;
        let (timestamp, signatures) = parse(value)?;
        let sent_ms = parse_unix_seconds(timestamp, HEADER)?;
        let expected = hmac_sha256(
            secret.as_bytes(),
            &[timestamp.as_bytes(), b".", delivery.body],
        );
        let decoded = signatures
            .into_iter()
            .filter_map(|sig| hex::decode(sig).ok());
        let matched = any_matches(&expected, decoded);
        if !matched {
            return Err(VerifyError::Mismatch(HEADER.to_string()));
        }
        // Checked after the signature so that only a genuine sender learns its clock is off.
        check_timestamp(delivery.now_ms, sent_ms, DEFAULT_TOLERANCE_SECS, HEADER)
    }

    fn signed(&self, delivery: &Delivery<'_>) -> Signed {
        let timestamp = header(delivery, HEADER)
            .ok()
            .and_then(|value| parse(value).ok())
            .map(|(t, _)| t);
        Signed {
            id: None,
            replay: timestamp
                .map(|t| Replay::of(&[t.as_bytes(), delivery.body], DEFAULT_TOLERANCE_SECS)),
        }
    }
}

/// Splits the header into its `t` and its `v1` entries.
fn parse(value: &str) -> Result<(&str, Vec<&str>), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in value.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let malformed = |reason: &str| VerifyError::Malformed {
        header: HEADER.to_string(),
        reason: reason.to_string(),
    };
    let timestamp = timestamp.ok_or_else(|| malformed("no t=<timestamp> entry"))?;
    if signatures.is_empty() {
        return Err(malformed("no v1=<hex> entry"));
    }
    Ok((timestamp, signatures))
}

/// The header Stripe attaches.
pub fn sign(secret: &str, body: &[u8], now_ms: Millis) -> Vec<(String, String)> {
    let t = (now_ms / 1000).to_string();
    let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body]);
    vec![(HEADER.to_string(), format!("t={t},v1={}", hex::encode(mac)))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_round_trip, verify};

    // Produced independently with Python:
    // hmac.new(b"whsec_test_secret", b'1700000000.{"id":"evt_1","object":"event"}',
    //          hashlib.sha256).hexdigest()
    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;
    const HEX: &str = "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd";
    const NOW: Millis = 1_700_000_000_000 + 10_000;

    fn check(value: &str, body: &[u8], now: Millis, secret: &str) -> Result<(), VerifyError> {
        verify(&Stripe, &[(HEADER, value)], body, now, secret)
    }

    #[test]
    fn independent_vector_verifies() {
        let value = format!("t=1700000000,v1={HEX}");
        assert_eq!(check(&value, BODY, NOW, SECRET), Ok(()));
    }

    #[test]
    fn any_v1_of_several_verifies() {
        let value = format!("t=1700000000,v1={},v1={HEX},v0=abcd", "00".repeat(32));
        assert_eq!(check(&value, BODY, NOW, SECRET), Ok(()));
    }

    #[test]
    fn flipped_body_and_wrong_secret_mismatch() {
        let value = format!("t=1700000000,v1={HEX}");
        let mismatch = Err(VerifyError::Mismatch(HEADER.to_string()));
        assert_eq!(
            check(&value, br#"{"id":"evt_2","object":"event"}"#, NOW, SECRET),
            mismatch
        );
        assert_eq!(check(&value, BODY, NOW, "whsec_other"), mismatch);
    }

    #[test]
    fn stale_timestamp_is_out_of_tolerance() {
        let value = format!("t=1700000000,v1={HEX}");
        let out = Err(VerifyError::TimestampOutOfTolerance {
            header: HEADER.to_string(),
            tolerance_secs: 300,
        });
        assert_eq!(check(&value, BODY, 1_700_000_301_000, SECRET), out);
        assert_eq!(check(&value, BODY, 1_699_999_699_000, SECRET), out);
    }

    #[test]
    fn missing_and_malformed_header() {
        assert_eq!(
            verify(&Stripe, &[], BODY, NOW, SECRET),
            Err(VerifyError::Missing(HEADER.to_string()))
        );
        assert!(matches!(
            check(&format!("v1={HEX}"), BODY, NOW, SECRET),
            Err(VerifyError::Malformed { .. })
        ));
        assert!(matches!(
            check("t=1700000000", BODY, NOW, SECRET),
            Err(VerifyError::Malformed { .. })
        ));
    }

    #[test]
    fn round_trip() {
        assert_round_trip("stripe", &Stripe, SECRET, BODY, NOW, HEADER);
    }
}
