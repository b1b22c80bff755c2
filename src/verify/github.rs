//! GitHub (and Gitea, Bitbucket, generic senders): `X-Hub-Signature-256: sha256=<hex HMAC>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Delivery, Scheme, VerifyError, constant_time_eq, header};

const HEADER: &str = "x-hub-signature-256";

#[derive(Debug)]
pub struct GitHub;

impl Scheme for GitHub {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        let value = header(delivery, HEADER)?;
        let hex_sig = value
            .strip_prefix("sha256=")
            .ok_or_else(|| VerifyError::Malformed {
                header: HEADER.to_string(),
                reason: "expected sha256=<hex>".to_string(),
            })?;
        let given = hex::decode(hex_sig.trim()).map_err(|_| VerifyError::Malformed {
            header: HEADER.to_string(),
            reason: "signature is not hex".to_string(),
        })?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(delivery.body);
        let expected = mac.finalize().into_bytes();
        if constant_time_eq(&expected, &given) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch(HEADER.to_string()))
        }
    }
}

/// The header value GitHub would send for `body` signed with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
