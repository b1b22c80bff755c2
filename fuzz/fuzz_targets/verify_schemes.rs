//! Every verification scheme over arbitrary headers and bodies. Two properties:
//! - nothing a sender puts in a header or body makes a verifier panic (it answers an error);
//! - what [`sign_headers_for`] signs, the same hook's verifier accepts at the same moment, and
//!   does not accept for another body.
//!
//! Input: a first line `<scheme> key=value …` (keys: `secret`, `now` in ms, `sign`, and the
//! `hmac` recipe `algorithm`, `encoding`, `prefix`, `signedPayload`, `timestampHeader`,
//! `tolerance` in seconds), then header lines, a blank line, the body. `header` and `hmac`
//! hooks read `x-token` / `x-signature` unless `header=` names another.

#![no_main]

#[path = "common.rs"]
mod common;

use hookhub::{Delivery, Verifier, VerifyError, sign_headers_for};
use hookhub::{Secrets, TriggerConfig};
use http::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// The hook, the moment of the delivery, and whether to sign the body as its sender would.
struct Setup {
    config: TriggerConfig,
    secret: String,
    now_ms: u64,
    sign: bool,
}

fn setup(line: &str) -> Setup {
    let mut words = line.split(' ');
    let scheme = words.next().unwrap_or_default().to_string();
    let mut config = TriggerConfig {
        header: match scheme.as_str() {
            "header" => Some("x-token".into()),
            "hmac" => Some("x-signature".into()),
            _ => None,
        },
        scheme: Some(scheme),
        ..TriggerConfig::default()
    };
    let mut setup = Setup {
        config: TriggerConfig::default(),
        secret: "s3cret".into(),
        now_ms: 1_700_000_000_000,
        sign: false,
    };
    for word in words {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        let text = Some(value.to_string());
        match key {
            "secret" => setup.secret = value.to_string(),
            "now" => setup.now_ms = value.parse().unwrap_or(setup.now_ms),
            "sign" => setup.sign = true,
            "header" => config.header = text,
            "algorithm" => config.algorithm = text,
            "encoding" => config.encoding = text,
            "prefix" => config.prefix = text,
            "signedPayload" => config.signed_payload = text,
            "timestampHeader" => config.timestamp_header = text,
            "tolerance" => {
                config.tolerance = value.parse().ok().map(std::time::Duration::from_secs);
            }
            _ => {}
        }
    }
    config.webhook_secret = Secrets(vec![setup.secret.clone()]);
    setup.config = config;
    setup
}

fn at<'a>(headers: &'a http::HeaderMap, body: &'a [u8], now_ms: u64) -> Delivery<'a> {
    Delivery {
        headers,
        body,
        now_ms,
    }
}

fuzz_target!(|data: &[u8]| {
    let (first, rest) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(first) = std::str::from_utf8(first) else {
        return;
    };
    let Setup {
        config,
        secret,
        now_ms,
        sign,
    } = setup(first);
    let Ok(verifier) = Verifier::new(&config) else {
        return;
    };
    let (lines, body) = common::split(rest);
    let mut headers = common::headers(lines);
    let _ = verifier.verify(&at(&headers, body, now_ms));
    // An empty secret means "no secret": such a hook refuses everything, signed or not.
    if !sign || secret.is_empty() {
        return;
    }
    let Ok(signed) = sign_headers_for(&config, &secret, body, now_ms, "msg_1") else {
        return;
    };
    // What a sender cannot put in a header (a secret with a newline) cannot be delivered; what
    // it can arrives with the spaces and tabs around it stripped, as HTTP does.
    for (name, value) in signed {
        match (
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            HeaderValue::from_str(value.trim_matches([' ', '\t'])),
        ) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => return,
        }
    }
    // Far-future stamps are out of every scheme's range; until ~year 5000 a sender's own
    // signature verifies, whatever other headers came with it.
    if now_ms < 100_000_000_000_000 {
        let accepted = verifier.verify(&at(&headers, body, now_ms));
        // Linear's send time is the body's own `webhookTimestamp`, not the moment of signing.
        let stale_linear = config.scheme_name() == "linear"
            && matches!(accepted, Err(VerifyError::TimestampOutOfTolerance { .. }));
        assert!(
            accepted.is_ok() || stale_linear,
            "{config:?} refused its own signature: {accepted:?}"
        );
        let mut other = body.to_vec();
        other.push(b'!');
        if !matches!(config.scheme_name(), "gitlab" | "bearer" | "header") {
            let changed = verifier.verify(&at(&headers, &other, now_ms));
            assert!(changed.is_err(), "{config:?} accepted a changed body");
        }
    }
});
