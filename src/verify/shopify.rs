//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the raw body>` with the app's
//! client secret. Shopify sends no timestamp, so replays are left to deduplication by
//! `X-Shopify-Webhook-Id`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::mac::hmac_sha256;
use super::{Delivery, Scheme, VerifyError, constant_time_eq, header};

const HEADER: &str = "X-Shopify-Hmac-Sha256";

#[derive(Debug)]
pub struct Shopify;

impl Scheme for Shopify {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        let value = header(delivery, HEADER)?;
        let given = BASE64
            .decode(value.trim())
            .map_err(|_| VerifyError::Malformed {
                header: HEADER.to_string(),
                reason: "signature is not base64".to_string(),
            })?;
        let expected = hmac_sha256(secret.as_bytes(), &[delivery.body]);
        if constant_time_eq(&expected, &given) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch(HEADER.to_string()))
        }
    }
}

/// The header Shopify attaches.
pub fn sign(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    let mac = hmac_sha256(secret.as_bytes(), &[body]);
    vec![(HEADER.to_string(), BASE64.encode(mac))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_round_trip, verify};

    // Produced independently with Python:
    // base64.b64encode(hmac.new(b"shpss_secret", b'{"id":820982911946154508}',
    //                           hashlib.sha256).digest())
    const SECRET: &str = "shpss_secret";
    const BODY: &[u8] = br#"{"id":820982911946154508}"#;
    const SIG: &str = "jqbalbO3Z8mDmrF2/+wzM3KYvbgqzVBF969vgiIy80I=";

    #[test]
    fn independent_vector_verifies() {
        assert_eq!(verify(&Shopify, &[(HEADER, SIG)], BODY, 0, SECRET), Ok(()));
    }

    #[test]
    fn mismatch_missing_and_malformed() {
        let mismatch = Err(VerifyError::Mismatch(HEADER.to_string()));
        assert_eq!(
            verify(
                &Shopify,
                &[(HEADER, SIG)],
                br#"{"id":820982911946154509}"#,
                0,
                SECRET
            ),
            mismatch
        );
        assert_eq!(
            verify(&Shopify, &[(HEADER, SIG)], BODY, 0, "other"),
            mismatch
        );
        assert_eq!(
            verify(&Shopify, &[], BODY, 0, SECRET),
            Err(VerifyError::Missing(HEADER.to_string()))
        );
        assert!(matches!(
            verify(&Shopify, &[(HEADER, "not base64!")], BODY, 0, SECRET),
            Err(VerifyError::Malformed { .. })
        ));
    }

    #[test]
    fn round_trip() {
        assert_round_trip("shopify", &Shopify, SECRET, BODY, 0, HEADER);
    }
}
