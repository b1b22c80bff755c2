//! The admin token in force, kept as its SHA-256 only: checked in constant time, replaced while
//! the hub runs (`hookhub admin reset-token`).

use std::sync::RwLock;

use sha2::{Digest, Sha256};

use crate::verify::constant_time_eq;

/// The admin token's SHA-256; the token itself is never kept.
#[derive(Debug, Clone)]
pub struct AdminToken {
    hash: [u8; 32],
}

impl AdminToken {
    pub fn from_token(token: &str) -> Self {
        Self {
            hash: Sha256::digest(token.as_bytes()).into(),
        }
    }

    pub fn from_hash(hash: &[u8]) -> Option<Self> {
        Some(Self {
            hash: hash.try_into().ok()?,
        })
    }

    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// Constant-time check of a presented token.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        constant_time_eq(&digest, &self.hash)
    }

    /// A new random token to show once: `hh_` and 32 random bytes, URL-safe base64.
    pub fn generate() -> String {
        use base64::Engine as _;
        let bytes: [u8; 32] = rand::random();
        format!(
            "hh_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    }
}

/// The admin token in force. A reset swaps it while requests are being checked against it.
#[derive(Debug)]
pub struct AdminTokenCell(RwLock<AdminToken>);

impl AdminTokenCell {
    pub fn new(token: AdminToken) -> Self {
        Self(RwLock::new(token))
    }

    /// Constant-time check of a presented token against the one in force.
    pub fn matches(&self, presented: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .matches(presented)
    }

    /// Puts `token` in force; from now on only it matches.
    pub fn replace(&self, token: AdminToken) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = token;
    }

    /// Whether `hash` is the hash of the token in force.
    pub fn is(&self, hash: &[u8]) -> bool {
        self.0.read().unwrap_or_else(|p| p.into_inner()).hash() == hash
    }
}
