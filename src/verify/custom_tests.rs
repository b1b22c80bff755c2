//! Tests of the `hmac` scheme, kept beside `custom.rs` in their own file for its length.

use std::time::Duration;

use super::*;
use crate::verify::testing::verify;

fn config(header: &str) -> TriggerConfig {
    TriggerConfig {
        scheme: Some("hmac".to_string()),
        header: Some(header.to_string()),
        ..TriggerConfig::default()
    }
}

fn timestamped() -> TriggerConfig {
    TriggerConfig {
        algorithm: Some("sha1".to_string()),
        signed_payload: Some("{timestamp}:{body}".to_string()),
        timestamp_header: Some("X-Timestamp".to_string()),
        ..config("X-Sig")
    }
}

#[test]
fn defaults_are_hex_sha256_of_the_body() {
    // GitHub's documented example, carried in a custom header with a prefix.
    let scheme = Custom::from_config(&TriggerConfig {
        prefix: Some("sha256=".to_string()),
        ..config("X-Signature")
    })
    .unwrap();
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let secret = "It's a Secret to Everybody";
    let body = b"Hello, World!";
    assert_eq!(
        verify(&scheme, &[("X-Signature", sig)], body, 0, secret),
        Ok(())
    );
    let mismatch = Err(VerifyError::Mismatch("X-Signature".to_string()));
    assert_eq!(
        verify(
            &scheme,
            &[("X-Signature", sig)],
            b"Hello, World?",
            0,
            secret
        ),
        mismatch
    );
    assert_eq!(
        verify(&scheme, &[("X-Signature", sig)], body, 0, "other"),
        mismatch
    );
    assert_eq!(
        verify(&scheme, &[], body, 0, secret),
        Err(VerifyError::Missing("X-Signature".to_string()))
    );
}

#[test]
fn sha1_with_signed_timestamp() {
    // Produced independently with Python:
    // hmac.new(b"s", b'1700000000:{"a":1}', hashlib.sha1).hexdigest()
    let scheme = Custom::from_config(&timestamped()).unwrap();
    let pairs = [
        ("X-Sig", "18bcfb973597a445459365c69d203e3ebd2ba643"),
        ("X-Timestamp", "1700000000"),
    ];
    let body = br#"{"a":1}"#;
    assert_eq!(
        verify(&scheme, &pairs, body, 1_700_000_100_000, "s"),
        Ok(())
    );
    assert_eq!(
        verify(&scheme, &pairs, body, 1_700_000_301_000, "s"),
        Err(VerifyError::TimestampOutOfTolerance {
            header: "X-Timestamp".to_string(),
            tolerance_secs: 300,
        })
    );
    assert_eq!(
        verify(&scheme, &pairs[..1], body, 1_700_000_100_000, "s"),
        Err(VerifyError::Missing("X-Timestamp".to_string()))
    );
}

#[test]
fn configured_tolerance_is_used() {
    let scheme = Custom::from_config(&TriggerConfig {
        tolerance: Some(Duration::from_secs(30)),
        ..timestamped()
    })
    .unwrap();
    let pairs = [
        ("X-Sig", "18bcfb973597a445459365c69d203e3ebd2ba643"),
        ("X-Timestamp", "1700000000"),
    ];
    let result = verify(&scheme, &pairs, br#"{"a":1}"#, 1_700_000_031_000, "s");
    assert!(matches!(
        result,
        Err(VerifyError::TimestampOutOfTolerance {
            tolerance_secs: 30,
            ..
        })
    ));
}

#[test]
fn sha512_base64_and_several_entries() {
    // Produced independently with Python:
    // base64.b64encode(hmac.new(b"s", b'{"a":1}', hashlib.sha512).digest())
    let scheme = Custom::from_config(&TriggerConfig {
        algorithm: Some("SHA512".to_string()),
        encoding: Some("base64".to_string()),
        ..config("X-Sig")
    })
    .unwrap();
    let sig =
        "B9+DHmMpaSsciudmnpFiWYJS8bkMUOTEnr/0nhcJhv5R5g41WoJ8UQpXYBbpWi4xLuCsUPEmcm/unagprMZR3Q==";
    let several = format!("b2xk {sig}");
    assert_eq!(
        verify(&scheme, &[("X-Sig", &several)], br#"{"a":1}"#, 0, "s"),
        Ok(())
    );
}

#[test]
fn config_errors_name_the_field() {
    let err = |c: TriggerConfig| Custom::from_config(&c).unwrap_err().to_string();
    assert!(err(TriggerConfig::default()).contains("triggerConfig.header"));
    let bad_alg = TriggerConfig {
        algorithm: Some("md5".into()),
        ..config("X")
    };
    assert!(err(bad_alg).contains("triggerConfig.algorithm"));
    let bad_enc = TriggerConfig {
        encoding: Some("base32".into()),
        ..config("X")
    };
    assert!(err(bad_enc).contains("triggerConfig.encoding"));
    let no_body = TriggerConfig {
        signed_payload: Some("{timestamp}".into()),
        ..timestamped()
    };
    assert!(err(no_body).contains("{body}"));
    let no_ts_header = TriggerConfig {
        timestamp_header: None,
        ..timestamped()
    };
    assert!(err(no_ts_header).contains("triggerConfig.timestampHeader"));
    let unused_ts = TriggerConfig {
        timestamp_header: Some("X-T".into()),
        ..config("X")
    };
    assert!(err(unused_ts).contains("triggerConfig.timestampHeader"));
    let unknown = TriggerConfig {
        signed_payload: Some("{id}.{body}".into()),
        ..config("X")
    };
    assert!(err(unknown).contains("triggerConfig.signedPayload"));
}

#[test]
fn round_trip() {
    let scheme = Custom::from_config(&TriggerConfig {
        prefix: Some("v1=".to_string()),
        signed_payload: Some("v1:{timestamp}:{body}".to_string()),
        ..timestamped()
    })
    .unwrap();
    let now = 1_700_000_000_000;
    let signed = scheme.sign("s", b"{}", now);
    let pairs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(verify(&scheme, &pairs, b"{}", now, "s"), Ok(()));
    assert_eq!(
        verify(&scheme, &pairs, b"[]", now, "s"),
        Err(VerifyError::Mismatch("X-Sig".to_string()))
    );
}

/// Found by the `verify_schemes` fuzzer: a prefix with a tab or space was accepted, but the
/// header's entries are split on whitespace, so the hook refused its own sender forever.
/// Header names no request can carry are refused for the same reason.
#[test]
fn settings_no_delivery_could_satisfy_are_refused() {
    let err = |c: TriggerConfig| Custom::from_config(&c).err().unwrap().to_string();
    for prefix in ["v1=\t", "HMAC ", "sig\u{e9}="] {
        let message = err(TriggerConfig {
            prefix: Some(prefix.to_string()),
            ..config("X-Sig")
        });
        assert!(message.starts_with("triggerConfig.prefix:"), "{message}");
    }
    let message = err(config("X Sig"));
    assert!(message.starts_with("triggerConfig.header: `X Sig` is not an HTTP header name"));
    let message = err(TriggerConfig {
        timestamp_header: Some("X-Time:".to_string()),
        ..timestamped()
    });
    assert!(
        message.starts_with("triggerConfig.timestampHeader:"),
        "{message}"
    );
    assert!(
        crate::verify::build(&TriggerConfig {
            scheme: Some("header".into()),
            ..config("X-Api Key")
        })
        .err()
        .unwrap()
        .to_string()
        .starts_with("triggerConfig.header:")
    );
}
