//! Helpers for the scheme tests: deliveries built from header pairs, and the checks every
//! scheme must pass (flipped body byte, wrong secret, missing header, sign round-trip).

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::{Delivery, Scheme, VerifyError, sign_headers};
use crate::clock::Millis;

/// A header map from `(name, value)` pairs.
pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
        map.append(
            name,
            HeaderValue::from_str(value).expect("valid header value"),
        );
    }
    map
}

/// Verifies `body` with `headers` at `now_ms`.
pub fn verify(
    scheme: &dyn Scheme,
    pairs: &[(&str, &str)],
    body: &[u8],
    now_ms: Millis,
    secret: &str,
) -> Result<(), VerifyError> {
    let map = headers(pairs);
    scheme.verify(
        &Delivery {
            headers: &map,
            body,
            now_ms,
        },
        secret,
    )
}

/// Signs with [`sign_headers`] and checks that the same scheme accepts the result, and that
/// a flipped body byte or another secret is a `Mismatch` naming `signature_header`, and that
/// dropping each signed header is `Missing` it.
pub fn assert_round_trip(
    name: &str,
    scheme: &dyn Scheme,
    secret: &str,
    body: &[u8],
    now_ms: Millis,
    signature_header: &str,
) {
    let signed = sign_headers(name, secret, body, now_ms, "msg_test").expect("signable");
    let pairs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(verify(scheme, &pairs, body, now_ms, secret), Ok(()));

    let mut flipped = body.to_vec();
    flipped[0] ^= 1;
    let mismatch = Err(VerifyError::Mismatch(signature_header.to_string()));
    assert_eq!(verify(scheme, &pairs, &flipped, now_ms, secret), mismatch);
    assert_eq!(
        verify(scheme, &pairs, body, now_ms, "another-secret"),
        mismatch
    );

    for (dropped, _) in &pairs {
        let rest: Vec<(&str, &str)> = pairs
            .iter()
            .copied()
            .filter(|(n, _)| n != dropped)
            .collect();
        assert_eq!(
            verify(scheme, &rest, body, now_ms, secret),
            Err(VerifyError::Missing(dropped.to_string())),
            "dropping {dropped}"
        );
    }
}
