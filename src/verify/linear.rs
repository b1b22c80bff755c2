//! Linear: `Linear-Signature: <hex HMAC-SHA256 of the raw body>`. Linear puts its send time
//! in the JSON body as `webhookTimestamp` (Unix milliseconds) rather than in a header; it
//! must be within five minutes; a signature seen within that window is a replay.

use super::github::compare_hex;
use super::mac::{DEFAULT_TOLERANCE_SECS, check_timestamp, hmac_sha256};
use super::{Delivery, Replay, Scheme, SignError, Signed, VerifyError, header};
use crate::clock::Millis;

const HEADER: &str = "Linear-Signature";
/// How the body field is named in errors, where the other schemes name a header.
const TIMESTAMP_FIELD: &str = "body.webhookTimestamp";

#[derive(Debug)]
pub struct Linear;

impl Scheme for Linear {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        let value = header(delivery, HEADER)?;
        compare_hex(value.trim(), secret, delivery.body, HEADER)?;
        // Only a body the sender signed is parsed, and only then is its clock judged.
        let sent_ms = webhook_timestamp(delivery.body).ok_or_else(|| VerifyError::Malformed {
            header: TIMESTAMP_FIELD.to_string(),
            reason: "the JSON body has no numeric webhookTimestamp (Unix ms)".to_string(),
        })?;
        check_timestamp(
            delivery.now_ms,
            sent_ms,
            DEFAULT_TOLERANCE_SECS,
            TIMESTAMP_FIELD,
        )
    }

    /// The signed body carries the timestamp, so the body alone is what a replay repeats.
    fn signed(&self, delivery: &Delivery<'_>) -> Signed {
        Signed {
            id: None,
            replay: Some(Replay::of(&[delivery.body], DEFAULT_TOLERANCE_SECS)),
        }
    }
}

fn webhook_timestamp(body: &[u8]) -> Option<Millis> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("webhookTimestamp")?.as_u64()
}

/// The header Linear attaches. Refused for a body without `webhookTimestamp`, since the
/// receiving hook would refuse it anyway.
pub fn sign(secret: &str, body: &[u8], now_ms: Millis) -> Result<Vec<(String, String)>, SignError> {
    if webhook_timestamp(body).is_none() {
        return Err(SignError::NoLinearTimestamp(now_ms));
    }
    let mac = hmac_sha256(secret.as_bytes(), &[body]);
    Ok(vec![(HEADER.to_string(), hex::encode(mac))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_round_trip, verify};

    // Produced independently with Python:
    // hmac.new(b"lin_wh_secret",
    //          b'{"action":"create","type":"Issue","webhookTimestamp":1700000000000}',
    //          hashlib.sha256).hexdigest()
    const SECRET: &str = "lin_wh_secret";
    const BODY: &[u8] = br#"{"action":"create","type":"Issue","webhookTimestamp":1700000000000}"#;
    const SIG: &str = "91e919dc0fd99df1cae12efef1ca08b082cfa523f101b572ec14ed98863fdf35";
    const NOW: Millis = 1_700_000_000_000 + 20_000;

    fn check(body: &[u8], now: Millis, secret: &str) -> Result<(), VerifyError> {
        verify(&Linear, &[(HEADER, SIG)], body, now, secret)
    }

    #[test]
    fn independent_vector_verifies() {
        assert_eq!(check(BODY, NOW, SECRET), Ok(()));
    }

    #[test]
    fn flipped_body_wrong_secret_and_missing_header() {
        let mismatch = Err(VerifyError::Mismatch(HEADER.to_string()));
        let body = br#"{"action":"remove","type":"Issue","webhookTimestamp":1700000000000}"#;
        assert_eq!(check(body, NOW, SECRET), mismatch);
        assert_eq!(check(BODY, NOW, "other"), mismatch);
        assert_eq!(
            verify(&Linear, &[], BODY, NOW, SECRET),
            Err(VerifyError::Missing(HEADER.to_string()))
        );
    }

    #[test]
    fn stale_body_timestamp_is_out_of_tolerance() {
        assert_eq!(
            check(BODY, 1_700_000_000_000 + 301_000, SECRET),
            Err(VerifyError::TimestampOutOfTolerance {
                header: TIMESTAMP_FIELD.to_string(),
                tolerance_secs: 300,
            })
        );
    }

    #[test]
    fn signed_body_without_timestamp_is_malformed() {
        let body = br#"{"action":"create"}"#;
        let sig = hex::encode(hmac_sha256(SECRET.as_bytes(), &[body]));
        assert!(matches!(
            verify(&Linear, &[(HEADER, &sig)], body, NOW, SECRET),
            Err(VerifyError::Malformed { .. })
        ));
        assert!(
            sign(SECRET, body, NOW)
                .unwrap_err()
                .to_string()
                .contains("webhookTimestamp")
        );
    }

    #[test]
    fn round_trip() {
        assert_round_trip("linear", &Linear, SECRET, BODY, NOW, HEADER);
    }
}
