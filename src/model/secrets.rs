//! A hook's secrets: one or a list of them ([`Secrets`]), the rotated-out ones still verifying
//! until their time ([`RetiringSecret`]), and the form a token scheme's secret is kept in
//! ([`hash_token`]), which the store writes and `verify` compares against.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// One secret or a list of them (for rotation). Written as a string or a list of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub Vec<String>);

impl Secrets {
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|s| s.is_empty())
    }

    /// The non-empty secrets.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str).filter(|s| !s.is_empty())
    }
}

impl Serialize for Secrets {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Secrets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a secret string or a list of secret strings")]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(s) => Secrets(vec![s]),
            OneOrMany::Many(v) => Secrets(v),
        })
    }
}

/// A rotated-out secret and the moment (ms since the epoch) it stops verifying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetiringSecret {
    pub secret: String,
    pub valid_until: crate::clock::Millis,
}

/// The schemes whose secret travels as-is, so only its digest needs keeping.
pub const TOKEN_SCHEMES: &[&str] = &["gitlab", "bearer", "header"];

/// How a stored token secret marks itself as a digest rather than the token.
const HASHED_PREFIX: &str = "sha256:";

/// The form a token secret is kept in: `sha256:<hex>` of the token. A value already in that
/// form is returned unchanged, so storing a hook twice never hashes a hash.
pub fn hash_token(secret: &str) -> String {
    if stored_digest(secret).is_some() {
        secret.to_string()
    } else {
        let digest = hex::encode(Sha256::digest(secret.as_bytes()));
        format!("{HASHED_PREFIX}{digest}")
    }
}

/// The digest inside a `sha256:<64 hex>` secret.
pub fn stored_digest(secret: &str) -> Option<[u8; 32]> {
    let hex_digest = secret.strip_prefix(HASHED_PREFIX)?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut digest).ok()?;
    Some(digest)
}
