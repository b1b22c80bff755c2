//! The `hmac` scheme, for senders none of the named schemes fit: the hook's config says which
//! header carries the signature, the hash, the encoding, a prefix, and what was signed
//! (`signedPayload`, a template of `{timestamp}` and `{body}`). A timestamp, when signed, is
//! read from `timestampHeader` as Unix seconds (or milliseconds, for values of 13+ digits)
//! and must be within `tolerance` (5 min by default).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::mac::{Algorithm, DEFAULT_TOLERANCE_SECS, Digest, any_matches, check_timestamp, hmac};
use super::{Delivery, Replay, Scheme, SchemeError, Signed, VerifyError, header};
use crate::clock::Millis;
use crate::model::TriggerConfig;

/// Timestamps at or above this are taken to be milliseconds (it is 2001-09-09 in ms, and
/// the year 33658 in seconds).
const MS_THRESHOLD: u64 = 1_000_000_000_000;

/// A part of `signedPayload`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Timestamp,
    Body,
}

/// How the signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Hex,
    Base64,
}

/// A hook's own HMAC recipe, checked when the hook is built.
#[derive(Debug)]
pub struct Custom {
    header: String,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: String,
    payload: Vec<Part>,
    /// The timestamp header and its tolerance in seconds, when `{timestamp}` is signed.
    timestamp: Option<(String, u64)>,
}

impl Custom {
    /// Reads the recipe from the trigger config; the error names the field to fix.
    pub fn from_config(config: &TriggerConfig) -> Result<Self, SchemeError> {
        let header = config
            .header
            .clone()
            .ok_or(SchemeError::NoSignatureHeader)?;
        super::check_header_name("header", &header)?;
        if let Some(name) = &config.timestamp_header {
            super::check_header_name("timestampHeader", name)?;
        }
        let prefix = config.prefix.clone().unwrap_or_default();
        // Entries are split on whitespace, and a header is read only as visible ASCII, so a
        // prefix with anything else could never match.
        if !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SchemeError::Prefix(prefix));
        }
        let algorithm = match config.algorithm.as_deref() {
            None => Algorithm::Sha256,
            Some(name) => {
                Algorithm::parse(name).ok_or_else(|| SchemeError::Algorithm(name.to_string()))?
            }
        };
        let encoding = match config
            .encoding
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("hex") => Encoding::Hex,
            Some("base64") => Encoding::Base64,
            Some(other) => return Err(SchemeError::Encoding(other.to_string())),
        };
        let payload = parse_template(config.signed_payload.as_deref().unwrap_or("{body}"))?;
        let timestamp = timestamp_config(config, payload.contains(&Part::Timestamp))?;
        Ok(Self {
            header,
            algorithm,
            encoding,
            prefix,
            payload,
            timestamp,
        })
    }

    fn mac(&self, secret: &str, timestamp: &str, body: &[u8]) -> Digest {
        let parts: Vec<&[u8]> = self
            .payload
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_bytes(),
                Part::Timestamp => timestamp.as_bytes(),
                Part::Body => body,
            })
            .collect();
        hmac(self.algorithm, secret.as_bytes(), &parts)
    }

    fn decode(&self, text: &str) -> Option<Vec<u8>> {
        match self.encoding {
            Encoding::Hex => hex::decode(text).ok(),
            Encoding::Base64 => BASE64.decode(text).ok(),
        }
    }

    /// The headers a sender following this recipe attaches.
    pub fn sign(&self, secret: &str, body: &[u8], now_ms: Millis) -> Vec<(String, String)> {
        let ts = (now_ms / 1000).to_string();
        let mac = self.mac(secret, &ts, body);
        let encoded = match self.encoding {
            Encoding::Hex => hex::encode(mac),
            Encoding::Base64 => BASE64.encode(mac),
        };
        let mut headers = Vec::new();
        if let Some((name, _)) = &self.timestamp {
            headers.push((name.clone(), ts));
        }
        headers.push((self.header.clone(), format!("{}{encoded}", self.prefix)));
        headers
    }
}

impl Scheme for Custom {
    fn verify(&self, delivery: &Delivery<'_>, secret: &str) -> Result<(), VerifyError> {
        let value = header(delivery, &self.header)?;
        let timestamp = match &self.timestamp {
            Some((name, _)) => Some((name, header(delivery, name)?.trim())),
            None => None,
        };
        let signed_ts = timestamp.map(|(_, ts)| ts).unwrap_or("");
        let expected = self.mac(secret, signed_ts, delivery.body);
        // Space-separated entries let a sender send old and new signatures while rotating.
        let entries: Vec<&str> = value
            .split_whitespace()
            .filter_map(|entry| entry.strip_prefix(self.prefix.as_str()))
            .collect();
        if entries.is_empty() {
            return Err(VerifyError::Malformed {
                header: self.header.clone(),
                reason: format!("expected {}<signature>", self.prefix),
            });
        }
        let matched = any_matches(
            &expected,
            entries.into_iter().filter_map(|e| self.decode(e)),
        );
        if !matched {
            return Err(VerifyError::Mismatch(self.header.clone()));
        }
        match (timestamp, &self.timestamp) {
            (Some((name, ts)), Some((_, tolerance))) => {
                check_timestamp(delivery.now_ms, parse_time(ts, name)?, *tolerance, name)
            }
            _ => Ok(()),
        }
    }

    /// With a signed timestamp, the timestamp and body are what a replay would repeat;
    /// without one a signature never expires, and only a delivery id can tell repeats apart.
    fn signed(&self, delivery: &Delivery<'_>) -> Signed {
        let Some((name, tolerance)) = &self.timestamp else {
            return Signed::default();
        };
        Signed {
            id: None,
            replay: header(delivery, name)
                .ok()
                .map(|ts| Replay::of(&[ts.trim().as_bytes(), delivery.body], *tolerance)),
        }
    }
}

/// The timestamp header and tolerance, refusing settings that would not be used.
fn timestamp_config(
    config: &TriggerConfig,
    signed: bool,
) -> Result<Option<(String, u64)>, SchemeError> {
    match (&config.timestamp_header, signed) {
        (Some(name), true) => {
            let tolerance = config
                .tolerance
                .map_or(DEFAULT_TOLERANCE_SECS, |d| d.as_secs());
            Ok(Some((name.clone(), tolerance)))
        }
        (None, true) => Err(SchemeError::NoTimestampHeader),
        // An unsigned timestamp could be changed by anyone, so checking it would prove nothing.
        (Some(_), false) => Err(SchemeError::UnsignedTimestampHeader),
        (None, false) if config.tolerance.is_some() => Err(SchemeError::UnsignedTolerance),
        (None, false) => Ok(None),
    }
}

/// Splits `signedPayload` into text, `{timestamp}` and `{body}`.
fn parse_template(template: &str) -> Result<Vec<Part>, SchemeError> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let (tag, part) = if rest[start..].starts_with("{body}") {
            ("{body}", Part::Body)
        } else if rest[start..].starts_with("{timestamp}") {
            ("{timestamp}", Part::Timestamp)
        } else {
            return Err(SchemeError::PayloadPart(template.to_string()));
        };
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_string()));
        }
        parts.push(part);
        rest = &rest[start + tag.len()..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    if !parts.contains(&Part::Body) {
        // A signature that does not cover the body would let anyone change the body.
        return Err(SchemeError::PayloadWithoutBody);
    }
    Ok(parts)
}

fn parse_time(value: &str, name: &str) -> Result<Millis, VerifyError> {
    let n: u64 = value.parse().map_err(|_| VerifyError::Malformed {
        header: name.to_string(),
        reason: "expected a Unix timestamp".to_string(),
    })?;
    Ok(if n >= MS_THRESHOLD {
        n
    } else {
        n.saturating_mul(1000)
    })
}

#[cfg(test)]
#[path = "custom_tests.rs"]
mod tests;
