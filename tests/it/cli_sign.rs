//! `hookhub sign` from the outside: the exact header line a GitHub hook expects, and a clear
//! refusal of an unknown scheme.

use std::process::{Command, Stdio};

use hmac::{Hmac, Mac};
use sha2::Sha256;

fn hookhub(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hookhub"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("hookhub runs")
}

#[test]
fn sign_prints_the_github_signature_header() {
    let out = hookhub(&["sign", "--secret", "s", "--data", r#"{"a":1}"#]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Computed here independently of hookhub's own signing code.
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s").unwrap();
    mac.update(br#"{"a":1}"#);
    let expected = format!(
        "X-Hub-Signature-256: sha256={}\n",
        hex::encode(mac.finalize().into_bytes())
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn sign_reads_the_body_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body.json");
    std::fs::write(&path, r#"{"a":1}"#).unwrap();
    let from_file = hookhub(&["sign", "--secret", "s", "--file", path.to_str().unwrap()]);
    let from_data = hookhub(&["sign", "--secret", "s", "--data", r#"{"a":1}"#]);
    assert!(from_file.status.success());
    assert_eq!(from_file.stdout, from_data.stdout);
}

#[test]
fn sign_standard_prints_three_headers() {
    let out = hookhub(&[
        "sign",
        "--secret",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "--scheme",
        "standard",
        "--data",
        "{}",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
    );
    assert!(text.contains("webhook-id: msg_"));
    assert!(text.contains("webhook-signature: v1,"));
}

#[test]
fn sign_refuses_an_unknown_scheme_and_lists_the_known_ones() {
    let out = hookhub(&["sign", "--secret", "s", "--scheme", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope") && err.contains("github") && err.contains("standard"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
