//! The "hex HMAC of the raw body" family: GitHub (and Bitbucket and generic senders),
//! `X-Hub-Signature-256: sha256=<hex>`, and Gitea, `X-Gitea-Signature: <hex>`.

use super::mac::hmac_sha256;
use super::{Delivery, Scheme, VerifyError, constant_time_eq, header};

const GITHUB_HEADER: &str = "X-Hub-Signature-256";
const GITEA_HEADER: &str = "X-Gitea-Signature";

/// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
#[derive(Debug)]
pub struct GitHub;

impl Scheme for GitHub {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        let value = header(delivery, GITHUB_HEADER)?;
        let hex_sig = value
            .trim()
            .strip_prefix("sha256=")
            .ok_or_else(|| malformed(GITHUB_HEADER, "expected sha256=<hex>"))?;
        compare_hex(hex_sig, secret, delivery.body, GITHUB_HEADER)
    }
}

/// `X-Gitea-Signature: <hex HMAC-SHA256 of the body>`.
#[derive(Debug)]
pub struct Gitea;

impl Scheme for Gitea {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        let value = header(delivery, GITEA_HEADER)?;
        compare_hex(value.trim(), secret, delivery.body, GITEA_HEADER)
    }
}

/// Compares a hex signature with the HMAC-SHA256 of `body` under `secret`.
pub(super) fn compare_hex(
    hex_sig: &str,
    secret: &str,
    body: &[u8],
    name: &str,
) -> Result<(), VerifyError> {
    let not_hex = |_| malformed(name, "signature is not hex");
    // A signature of the digest's length is decoded in place; `hex::decode` collects into a
    // `Vec` through an iterator of results, three times the work (BENCHMARKS.md).
    let mut digest = [0u8; 32];
    let decoded;
    let given: &[u8] = if hex_sig.len() == 2 * digest.len() {
        hex::decode_to_slice(hex_sig, &mut digest).map_err(not_hex)?;
        &digest
    } else {
        decoded = hex::decode(hex_sig).map_err(not_hex)?;
        &decoded
    };
    let expected = hmac_sha256(secret.as_bytes(), &[body]);
    if constant_time_eq(&expected, given) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch(name.to_string()))
    }
}

fn malformed(name: &str, reason: &str) -> VerifyError {
    VerifyError::Malformed {
        header: name.to_string(),
        reason: reason.to_string(),
    }
}

/// The header value GitHub would send for `body` signed with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &[body]))
    )
}

/// The header GitHub attaches.
pub fn sign_github(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    vec![(GITHUB_HEADER.to_string(), signature(secret, body))]
}

/// The header Gitea attaches.
pub fn sign_gitea(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    let hex_sig = hex::encode(hmac_sha256(secret.as_bytes(), &[body]));
    vec![(GITEA_HEADER.to_string(), hex_sig)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{assert_round_trip, verify};

    // GitHub's documented example ("Validating webhook deliveries"): this secret and body give
    // this signature.
    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const HEX: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_documented_vector_verifies() {
        let value = format!("sha256={HEX}");
        let pairs = [("X-Hub-Signature-256", value.as_str())];
        assert_eq!(verify(&GitHub, &pairs, BODY, 0, SECRET), Ok(()));
        assert_eq!(signature(SECRET, BODY), value);
    }

    #[test]
    fn github_rejects_wrong_prefix_and_missing_header() {
        let pairs = [("X-Hub-Signature-256", HEX)];
        assert!(matches!(
            verify(&GitHub, &pairs, BODY, 0, SECRET),
            Err(VerifyError::Malformed { .. })
        ));
        assert_eq!(
            verify(&GitHub, &[], BODY, 0, SECRET),
            Err(VerifyError::Missing(GITHUB_HEADER.to_string()))
        );
    }

    /// A digest-long signature is decoded in place, any other length as before: not hex is
    /// malformed whatever its length, hex of the wrong length a mismatch.
    #[test]
    fn signatures_of_every_length_are_judged_alike() {
        let not_hex = format!("{}zz", &HEX[..62]);
        let upper = HEX.to_uppercase();
        let short = &HEX[..62];
        let odd = &HEX[..63];
        let long = format!("{HEX}00");
        for (given, expected) in [
            (upper.as_str(), Ok(())),
            (not_hex.as_str(), Err("malformed")),
            (odd, Err("malformed")),
            (short, Err("mismatch")),
            (long.as_str(), Err("mismatch")),
        ] {
            let pairs = [("X-Gitea-Signature", given)];
            let got = verify(&Gitea, &pairs, BODY, 0, SECRET).map_err(|e| match e {
                VerifyError::Malformed { .. } => "malformed",
                VerifyError::Mismatch(_) => "mismatch",
                other => panic!("{other:?}"),
            });
            assert_eq!(got, expected, "{given}");
        }
    }

    #[test]
    fn github_round_trip() {
        assert_round_trip("github", &GitHub, SECRET, BODY, 0, GITHUB_HEADER);
    }

    #[test]
    fn gitea_vector_verifies() {
        // Gitea signs the same HMAC as GitHub, bare hex without the prefix.
        let pairs = [("X-Gitea-Signature", HEX)];
        assert_eq!(verify(&Gitea, &pairs, BODY, 0, SECRET), Ok(()));
    }

    #[test]
    fn gitea_round_trip() {
        assert_round_trip("gitea", &Gitea, SECRET, BODY, 0, GITEA_HEADER);
    }
}
