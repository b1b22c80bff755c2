//! Tests of the `forward` action.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap as AxumHeaders;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;
use crate::actions::test_support::{execution, hook};
use crate::clock::ManualClock;
use crate::execution::{AttemptOutcome, Execution};
use crate::model::{ActionConfig, ActionKind, Hook, Secrets, SignMode, TriggerConfig};
use crate::verify::{Delivery, Verifier};

const NOW: u64 = 1_700_000_000_000;
const RAW: &[u8] = b"{\"ref\": \"main\",\n  \"n\":1}";

/// What the fake target received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    headers: AxumHeaders,
    body: Vec<u8>,
}

/// A target on `127.0.0.1:0` that records each request and answers `status` with
/// `headers` and `body`. Returns its URL.
async fn target(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: String,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let handler = move |method: Method, req_headers: AxumHeaders, req_body: axum::body::Bytes| {
        let log = log.clone();
        let body = body.clone();
        async move {
            log.lock().unwrap().push(Seen {
                method: method.to_string(),
                headers: req_headers,
                body: req_body.to_vec(),
            });
            let mut response = axum::http::Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(*name, *value);
            }
            response.body(axum::body::Body::from(body)).unwrap()
        }
    };
    let app = axum::Router::new().route("/hook", axum::routing::any(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn env() -> ActionEnv {
    ActionEnv::new(Arc::new(ManualClock::new(NOW)))
}

fn forward_hook(url: &str, config: ActionConfig) -> Hook {
    let config = ActionConfig {
        webhook_url: Some(url.to_string()),
        ..config
    };
    hook(ActionKind::Webhook, config)
}

async fn attempt(hook: &Hook) -> (Report, Execution) {
    let exe = execution(serde_json::from_slice(RAW).unwrap(), RAW);
    let config = crate::config::Config::default();
    let run = Run {
        hook,
        execution: &exe,
        attempt: 1,
        config: &config,
    };
    let action = crate::hooks::Action::of(hook, &config);
    (crate::actions::run(&env(), action.as_ref(), run).await, exe)
}

#[tokio::test]
async fn success_forwards_the_raw_body_and_its_content_type() {
    let (url, seen) = target(200, &[], r#"{"ok":true}"#.into()).await;
    let (report, _) = attempt(&forward_hook(&url, ActionConfig::default())).await;
    let output = json!({ "status": 200, "body": { "ok": true } });
    assert_eq!(
        report.outcome,
        Outcome::Succeeded {
            output: Some(output)
        }
    );
    assert_eq!(report.attempts[0].outcome, AttemptOutcome::Succeeded);
    assert_eq!(report.attempts[0].started_at, NOW);

    let seen = seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.body, RAW);
    assert_eq!(seen.headers["content-type"], "application/json");
    let ua = seen.headers["user-agent"].to_str().unwrap();
    assert_eq!(ua, concat!("hookhub/", env!("CARGO_PKG_VERSION")));

    let detail = &report.attempts[0].detail;
    assert_eq!(detail["url"], url.as_str());
    assert_eq!(detail["method"], "POST");
    assert_eq!(detail["status"], 200);
    assert_eq!(detail["response"], r#"{"ok":true}"#);
    assert_eq!(detail["error"], Value::Null);
    assert!(detail["latencyMs"].is_u64());
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (url, _) = target(500, &[], "boom".into()).await;
    let (report, _) = attempt(&forward_hook(&url, ActionConfig::default())).await;
    assert!(matches!(
        report.outcome,
        Outcome::Retry {
            retry_after: None,
            ..
        }
    ));
    assert_eq!(report.attempts[0].outcome, AttemptOutcome::Retryable);
    assert_eq!(report.attempts[0].detail["status"], 500);
    assert_eq!(report.attempts[0].detail["response"], "boom");
}

#[tokio::test]
async fn client_errors_and_redirects_fail_without_retry() {
    for status in [400, 404, 302] {
        let (url, _) = target(status, &[("location", "http://127.0.0.1:9/")], "".into()).await;
        let (report, _) = attempt(&forward_hook(&url, ActionConfig::default())).await;
        assert!(
            matches!(report.outcome, Outcome::Failed { .. }),
            "{status}: {:?}",
            report.outcome
        );
        assert_eq!(report.attempts[0].outcome, AttemptOutcome::Failed);
        assert_eq!(report.attempts[0].detail["status"], status);
    }
}

#[tokio::test]
async fn too_many_requests_retries_after_what_the_target_asked() {
    let (url, _) = target(429, &[("retry-after", "7")], "".into()).await;
    let (report, _) = attempt(&forward_hook(&url, ActionConfig::default())).await;
    let Outcome::Retry { retry_after, .. } = report.outcome else {
        panic!("expected a retry, got {:?}", report.outcome);
    };
    assert_eq!(retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn request_timeout_is_retried() {
    let (url, _) = target(408, &[], "".into()).await;
    let (report, _) = attempt(&forward_hook(&url, ActionConfig::default())).await;
    assert!(matches!(report.outcome, Outcome::Retry { .. }));
}

#[tokio::test]
async fn connection_refused_is_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    let (report, _) = attempt(&forward_hook(&url, ActionConfig::default())).await;
    let Outcome::Retry { error, retry_after } = &report.outcome else {
        panic!("expected a retry, got {:?}", report.outcome);
    };
    assert!(error.starts_with("could not connect"), "{error}");
    assert_eq!(*retry_after, None);
    assert_eq!(report.attempts[0].detail["status"], Value::Null);
    assert_eq!(report.attempts[0].detail["error"], error.as_str());
}

#[tokio::test]
async fn url_credentials_stay_out_of_a_failed_attempt() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://user-5521:pw-5521@{host}/hook?token=q-5521&plain=");
    let (report, _) = attempt(&forward_hook(&url, ActionConfig::default())).await;
    assert!(matches!(report.outcome, Outcome::Retry { .. }));
    let detail = &report.attempts[0].detail;
    assert_eq!(
        detail["url"],
        format!("http://[redacted]@{host}/hook?token=[redacted]&plain=")
    );
    let recorded = format!("{report:?}");
    assert!(!recorded.contains("5521"), "{recorded}");

    // A request that cannot even be built is recorded with the URL redacted too.
    let config = ActionConfig {
        webhook_method: Some("NOT A METHOD".into()),
        ..Default::default()
    };
    let (report, _) = attempt(&forward_hook(&url, config)).await;
    assert!(matches!(report.outcome, Outcome::Failed { .. }));
    let recorded = format!("{report:?}");
    assert!(!recorded.contains("5521"), "{recorded}");
    assert!(recorded.contains("[redacted]@"), "{recorded}");
}

#[tokio::test]
async fn github_signing_gives_a_valid_signature_and_keeps_the_secret_out_of_the_log() {
    let (url, seen) = target(204, &[], "".into()).await;
    let config = ActionConfig {
        sign: Some(SignMode::Github),
        signing_secret: Secrets(vec!["s3cret-key".into(), "older".into()]),
        ..Default::default()
    };
    let (report, _) = attempt(&forward_hook(&url, config)).await;
    assert!(matches!(report.outcome, Outcome::Succeeded { .. }));

    let seen = seen.lock().unwrap()[0].clone();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret-key").unwrap();
    mac.update(RAW);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(seen.headers["x-hub-signature-256"], expected.as_str());
    assert!(!report.attempts[0].detail.to_string().contains("s3cret"));
}

#[tokio::test]
async fn standard_signing_verifies_with_the_hubs_own_verifier() {
    let (url, seen) = target(200, &[], "".into()).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let config = ActionConfig {
        sign: Some(SignMode::Standard),
        signing_secret: Secrets(vec![secret.into()]),
        ..Default::default()
    };
    let (_, exe) = attempt(&forward_hook(&url, config)).await;
    let seen = seen.lock().unwrap()[0].clone();
    assert_eq!(seen.headers["webhook-id"], exe.id.to_string().as_str());
    let verifier = Verifier::new(&TriggerConfig {
        scheme: Some("standard".into()),
        webhook_secret: Secrets(vec![secret.into()]),
        ..Default::default()
    })
    .unwrap();
    let delivery = Delivery {
        headers: &seen.headers,
        body: &seen.body,
        now_ms: NOW,
    };
    verifier.verify(&delivery).unwrap();
}

#[tokio::test]
async fn signing_without_a_secret_fails_before_sending() {
    let (url, seen) = target(200, &[], "".into()).await;
    let config = ActionConfig {
        sign: Some(SignMode::Github),
        ..Default::default()
    };
    let (report, _) = attempt(&forward_hook(&url, config)).await;
    let Outcome::Failed { error } = report.outcome else {
        panic!("expected failure");
    };
    assert!(error.contains("signingSecret"), "{error}");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn body_template_and_header_templates_render() {
    let (url, seen) = target(200, &[], "plain answer".into()).await;
    let config = ActionConfig {
        webhook_method: Some("put".into()),
        body_template: Some(r#"{"branch": "{{webhook.body.ref}}", "hook": "{{hook.id}}"}"#.into()),
        headers: [("X-Event".to_string(), "{{webhook.eventType}}".to_string())].into(),
        ..Default::default()
    };
    let (report, _) = attempt(&forward_hook(&url, config)).await;
    let output = json!({ "status": 200, "body": "plain answer" });
    assert_eq!(
        report.outcome,
        Outcome::Succeeded {
            output: Some(output)
        }
    );
    let seen = seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.body, br#"{"branch": "main", "hook": "test-hook"}"#);
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["x-event"], "push");
}

#[tokio::test]
async fn a_text_template_is_sent_as_text_unless_headers_say_otherwise() {
    let (url, seen) = target(200, &[], "".into()).await;
    let text = ActionConfig {
        body_template: Some("ref is {{webhook.body.ref}}".into()),
        ..Default::default()
    };
    attempt(&forward_hook(&url, text.clone())).await;
    let explicit = ActionConfig {
        headers: [("Content-Type".to_string(), "text/markdown".to_string())].into(),
        ..text
    };
    attempt(&forward_hook(&url, explicit)).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].body, b"ref is main");
    assert_eq!(seen[0].headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(seen[1].headers["content-type"], "text/markdown");
}

#[tokio::test]
async fn response_body_is_recorded_up_to_one_kilobyte() {
    let (url, _) = target(200, &[], "x".repeat(5000)).await;
    let (report, _) = attempt(&forward_hook(&url, ActionConfig::default())).await;
    let detail = &report.attempts[0].detail;
    assert_eq!(detail["response"].as_str().unwrap().len(), 1024);
    assert_eq!(detail["responseTruncated"], true);
    let Outcome::Succeeded {
        output: Some(output),
    } = report.outcome
    else {
        panic!("expected success");
    };
    assert_eq!(output["body"].as_str().unwrap().len(), 1024);
}

#[tokio::test]
async fn missing_url_fails_with_the_field_named() {
    let (report, _) = attempt(&hook(ActionKind::Webhook, ActionConfig::default())).await;
    assert_eq!(
        report.outcome,
        Outcome::Failed {
            error: "actionConfig.webhookUrl is not set".into()
        }
    );
}
