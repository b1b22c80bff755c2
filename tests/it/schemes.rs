//! Every verification scheme over HTTP against the real hub (issue 5): a delivery signed the
//! way that sender signs is accepted; a flipped body byte, a wrong secret, a missing header
//! and a stale timestamp are refused with 401 and the right code. The hub runs on a manual
//! clock, so the timestamps signed here are exactly the hub's "now".

use crate::common;

use common::{Hub, Target};
use hmac::{Hmac, Mac};
use hookhub::ManualClock;
use serde_json::Value;
use sha2::Sha256;

const NOW: u64 = 1_700_000_000_000;
const STALE: u64 = NOW - 10 * 60 * 1000;
const SECRET: &str = "s3cret-for-schemes";
const WRONG: &str = "not-the-secret";
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STANDARD_WRONG: &str = "whsec_c2Vjb25kLWtleS1ub3QtdGhlLXNlY3JldA==";

/// Each scheme: its name, whether it signs the body, whether it carries a timestamp.
const SCHEMES: &[(&str, bool, bool)] = &[
    ("github", true, false),
    ("gitea", true, false),
    ("gitlab", false, false),
    ("standard", true, true),
    ("stripe", true, true),
    ("slack", true, true),
    ("shopify", true, false),
    ("linear", true, true),
    ("bearer", false, false),
    ("header", false, false),
    ("hmac", true, true),
];

fn config(target: &str) -> String {
    let mut yaml = String::from(
        "server: { dataDir: \"{data}\" }\nadmin: { token: test-admin-token }\nhooks:\n",
    );
    for (scheme, ..) in SCHEMES {
        let extra = match *scheme {
            "header" => ", header: X-Hook-Token",
            "hmac" => {
                ", header: X-Signature, prefix: \"sha256=\", timestampHeader: X-Timestamp, \
                 signedPayload: \"{timestamp}.{body}\""
            }
            _ => "",
        };
        yaml.push_str(&format!(
            "  - id: {scheme}\n    triggerConfig: {{ webhookPath: {scheme}, scheme: {scheme}, \
             webhookSecret: \"{}\"{extra} }}\n    action: webhook\n    \
             actionConfig: {{ webhookUrl: \"{target}\" }}\n",
            secret_of(scheme, true)
        ));
    }
    yaml
}

fn secret_of(scheme: &str, right: bool) -> &'static str {
    match (scheme, right) {
        ("standard", true) => STANDARD_SECRET,
        ("standard", false) => STANDARD_WRONG,
        (_, true) => SECRET,
        (_, false) => WRONG,
    }
}

/// A body carrying its own send time, as Linear's do.
fn body(at_ms: u64) -> String {
    format!(r#"{{"webhookTimestamp":{at_ms},"action":"opened"}}"#)
}

/// The headers that sender attaches: the hub's own signer for the named schemes, written out
/// by hand for the two whose recipe is the hook's config.
fn sign(scheme: &str, secret: &str, body: &str, at_ms: u64, id: &str) -> Vec<(String, String)> {
    match scheme {
        "header" => vec![("X-Hook-Token".into(), secret.into())],
        "hmac" => {
            let ts = (at_ms / 1000).to_string();
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(format!("{ts}.{body}").as_bytes());
            let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            vec![("X-Timestamp".into(), ts), ("X-Signature".into(), sig)]
        }
        named => hookhub::sign_headers(named, secret, body.as_bytes(), at_ms, id).unwrap(),
    }
}

async fn post(hub: &Hub, scheme: &str, headers: &[(String, String)], body: String) -> (u16, Value) {
    let mut request = hub
        .client
        .post(format!("{}/api/webhooks/{scheme}", hub.url))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_scheme_accepts_its_sender_and_refuses_tampering() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(
        &config(&target.url),
        dir.path(),
        Some(ManualClock::new(NOW)),
    )
    .await;
    let mut failures = Vec::new();
    for (n, &(scheme, signs_body, timestamped)) in SCHEMES.iter().enumerate() {
        let good = body(NOW);
        let id = |case: &str| format!("msg_{n}_{case}");
        let signed = sign(scheme, secret_of(scheme, true), &good, NOW, &id("ok"));
        let flipped = good.replace("opened", "openee");
        let mut cases = vec![
            ("valid", signed.clone(), good.clone(), 202, ""),
            (
                "flipped body byte",
                sign(scheme, secret_of(scheme, true), &good, NOW, &id("flip")),
                flipped,
                if signs_body { 401 } else { 202 },
                if signs_body { "auth_invalid" } else { "" },
            ),
            (
                "wrong secret",
                sign(scheme, secret_of(scheme, false), &good, NOW, &id("wrong")),
                good.clone(),
                401,
                "auth_invalid",
            ),
            (
                "missing header",
                Vec::new(),
                good.clone(),
                401,
                "auth_invalid",
            ),
        ];
        if timestamped {
            let stale = body(STALE);
            let headers = sign(scheme, secret_of(scheme, true), &stale, STALE, &id("stale"));
            cases.push((
                "stale timestamp",
                headers,
                stale,
                401,
                "timestamp_out_of_tolerance",
            ));
        }
        for (case, headers, body, status, code) in cases {
            let (got, answer) = post(&hub, scheme, &headers, body).await;
            let got_code = answer["error"]["code"].as_str().unwrap_or("");
            if got != status || got_code != code {
                failures.push(format!(
                    "{scheme} / {case}: expected {status} {code}, got {got} {answer}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    hub.stop().await;
}
