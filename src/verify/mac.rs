//! The arithmetic every HMAC scheme shares: computing a MAC over several parts, and checking
//! a sender's timestamp against the delivery's time. Kept apart so each scheme file only says
//! which bytes are signed and where the signature travels.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::{VerifyError, constant_time_eq};
use crate::clock::Millis;

/// How far a sender's clock may be from ours, either way, for the timestamped schemes.
pub const DEFAULT_TOLERANCE_SECS: u64 = 5 * 60;

/// A hash function for HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// Parses the `triggerConfig.algorithm` names.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

/// HMAC of the concatenation of `parts` under `key`.
pub fn hmac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Digest {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    match algorithm {
        Algorithm::Sha1 => run(
            Hmac::<Sha1>::new_from_slice(key).expect("any key length"),
            parts,
        ),
        Algorithm::Sha256 => run(
            Hmac::<Sha256>::new_from_slice(key).expect("any key length"),
            parts,
        ),
        Algorithm::Sha512 => run(
            Hmac::<Sha512>::new_from_slice(key).expect("any key length"),
            parts,
        ),
    }
}

fn run<M: Mac>(mut mac: M, parts: &[&[u8]]) -> Digest {
    for part in parts {
        mac.update(part);
    }
    let out = mac.finalize().into_bytes();
    let mut digest = Digest {
        bytes: [0; 64],
        len: out.len(),
    };
    digest.bytes[..out.len()].copy_from_slice(&out);
    digest
}

/// A MAC, on the stack: every delivery computes one, and a `Vec` for it was an allocation.
#[derive(Clone, Copy)]
pub struct Digest {
    /// Room for SHA-512's, the longest.
    bytes: [u8; 64],
    len: usize,
}

impl std::ops::Deref for Digest {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// HMAC-SHA256 of the concatenation of `parts`: what most senders use.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Digest {
    hmac(Algorithm::Sha256, key, parts)
}

/// True when any of the decoded signatures equals `expected`. Every one is compared, so the
/// time taken does not say which one matched.
pub fn any_matches(expected: &[u8], given: impl IntoIterator<Item = Vec<u8>>) -> bool {
    given.into_iter().fold(false, |matched, sig| {
        matched | constant_time_eq(expected, &sig)
    })
}

/// Ok when `sent_ms` is within `tolerance_secs` of `now_ms`, in either direction: a clock a
/// little ahead is as normal as one a little behind, and a far-future stamp is as replayable
/// as an old one.
pub fn check_timestamp(
    now_ms: Millis,
    sent_ms: Millis,
    tolerance_secs: u64,
    header: &str,
) -> Result<(), VerifyError> {
    if now_ms.abs_diff(sent_ms) <= tolerance_secs.saturating_mul(1000) {
        Ok(())
    } else {
        Err(VerifyError::TimestampOutOfTolerance {
            header: header.to_string(),
            tolerance_secs,
        })
    }
}

/// Parses a Unix-seconds timestamp header value into milliseconds.
pub fn parse_unix_seconds(value: &str, header: &str) -> Result<Millis, VerifyError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .ok_or_else(|| VerifyError::Malformed {
            header: header.to_string(),
            reason: "expected a Unix timestamp in seconds".to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_applies_both_ways() {
        let now = 1_000_000_000;
        assert!(check_timestamp(now, now - 300_000, 300, "h").is_ok());
        assert!(check_timestamp(now, now + 300_000, 300, "h").is_ok());
        assert!(check_timestamp(now, now - 300_001, 300, "h").is_err());
        assert!(check_timestamp(now, now + 300_001, 300, "h").is_err());
    }

    #[test]
    fn rfc4231_case_2_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = hmac_sha256(b"Jefe", &[b"what do ya ", b"want for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
