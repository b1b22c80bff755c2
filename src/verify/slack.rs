//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<ts>:<body>">` with the signing
//! secret, and `X-Slack-Request-Timestamp: <unix seconds>` within five minutes.

use super::mac::{
    DEFAULT_TOLERANCE_SECS, Digest, check_timestamp, hmac_sha256, parse_unix_seconds,
};
use super::{Delivery, Replay, Scheme, Signed, VerifyError, constant_time_eq, header};
use crate::clock::Millis;

const SIGNATURE: &str = "X-Slack-Signature";
const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

#[derive(Debug)]
pub struct Slack;

impl Scheme for Slack {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        let value = header(delivery, SIGNATURE)?;
        let timestamp = header(delivery, TIMESTAMP)?.trim();
        let sent_ms = parse_unix_seconds(timestamp, TIMESTAMP)?;
        let hex_sig = value
            .trim()
            .strip_prefix("v0=")
            .ok_or_else(|| VerifyError::Malformed {
                header: SIGNATURE.to_string(),
                reason: "expected v0=<hex>".to_string(),
            })?;
        let given = hex::decode(hex_sig).map_err(|_| VerifyError::Malformed {
            header: SIGNATURE.to_string(),
            reason: "signature is not hex".to_string(),
        })?;
        if !constant_time_eq(&mac(secret, timestamp, delivery.body), &given) {
            return Err(VerifyError::Mismatch(SIGNATURE.to_string()));
        }
        // Checked after the signature so that only a genuine sender learns its clock is off.
        check_timestamp(delivery.now_ms, sent_ms, DEFAULT_TOLERANCE_SECS, TIMESTAMP)
    }

    fn signed(&self, delivery: &Delivery<'_>) -> Signed {
        let timestamp = header(delivery, TIMESTAMP).ok().map(str::trim);
        Signed {
            id: None,
            replay: timestamp
                .map(|ts| Replay::of(&[ts.as_bytes(), delivery.body], DEFAULT_TOLERANCE_SECS)),
        }
    }
}

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Digest {
    hmac_sha256(
        secret.as_bytes(),
        &[b"v0:", timestamp.as_bytes(), b":", body],
    )
}

/// The headers Slack attaches.
pub fn sign(secret: &str, body: &[u8], now_ms: Millis) -> Vec<(String, String)> {
    let ts = (now_ms / 1000).to_string();
    let signature = format!("v0={}", hex::encode(mac(secret, &ts, body)));
    vec![
        (TIMESTAMP.to_string(), ts),
        (SIGNATURE.to_string(), signature),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_round_trip, verify};

    // Slack's documented example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const NOW: Millis = 1_531_420_618_000 + 3_000;

    fn check(body: &[u8], now: Millis, secret: &str) -> Result<(), VerifyError> {
        verify(
            &Slack,
            &[(SIGNATURE, SIG), (TIMESTAMP, TS)],
            body,
            now,
            secret,
        )
    }

    #[test]
    fn documented_vector_verifies() {
        assert_eq!(check(BODY, NOW, SECRET), Ok(()));
    }

    #[test]
    fn flipped_body_and_wrong_secret_mismatch() {
        let mismatch = Err(VerifyError::Mismatch(SIGNATURE.to_string()));
        let mut body = BODY.to_vec();
        body[0] ^= 1;
        assert_eq!(check(&body, NOW, SECRET), mismatch);
        assert_eq!(
            check(BODY, NOW, "8f742231b10e8888abcd99yyyzzz85a6"),
            mismatch
        );
    }

    #[test]
    fn stale_timestamp_is_out_of_tolerance() {
        assert_eq!(
            check(BODY, 1_531_420_618_000 + 301_000, SECRET),
            Err(VerifyError::TimestampOutOfTolerance {
                header: TIMESTAMP.to_string(),
                tolerance_secs: 300,
            })
        );
    }

    #[test]
    fn missing_headers_are_named() {
        assert_eq!(
            verify(&Slack, &[(SIGNATURE, SIG)], BODY, NOW, SECRET),
            Err(VerifyError::Missing(TIMESTAMP.to_string()))
        );
        assert_eq!(
            verify(&Slack, &[(TIMESTAMP, TS)], BODY, NOW, SECRET),
            Err(VerifyError::Missing(SIGNATURE.to_string()))
        );
    }

    #[test]
    fn sign_reproduces_documented_vector() {
        let signed = sign(SECRET, BODY, 1_531_420_618_500);
        assert_eq!(signed[1], (SIGNATURE.to_string(), SIG.to_string()));
    }

    #[test]
    fn round_trip() {
        assert_round_trip("slack", &Slack, SECRET, BODY, NOW, SIGNATURE);
    }
}
