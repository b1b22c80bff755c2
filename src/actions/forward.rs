//! The `webhook` action: forward the event to another URL (SPEC §6).
//!
//! One call is one HTTP attempt. What the receiver answered decides the outcome: 2xx succeeds;
//! network errors, 408, 429 and 5xx are worth retrying (the queue's schedule decides when);
//! anything else is the receiver refusing, and repeating the request would not change its mind.
//! The signing secret goes into the request's signature only, never into the recorded detail.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ActionEnv, Outcome, Report, Run, report, template};
use crate::hooks::SignMode;
use crate::queue::retry::parse_retry_after;

/// How long one attempt may take, response body included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of the response is kept in the execution log.
const RESPONSE_KEEP: usize = 1024;

/// The request to send, built from the hook's `actionConfig` before anything goes out.
struct Request {
    url: String,
    method: Method,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// What came back, when anything did.
struct Response {
    status: StatusCode,
    retry_after: Option<Duration>,
    /// The first [`RESPONSE_KEEP`] bytes of the body.
    head: Vec<u8>,
    truncated: bool,
}

/// Runs one forward attempt.
pub(super) async fn forward(env: &ActionEnv, run: Run<'_>) -> Report {
    let started_at = env.clock.now_ms();
    let started = Instant::now();
    let request = match build_request(env, run) {
        Ok(request) => request,
        Err(error) => {
            let detail = json!({
                "url": run.hook.action_config.webhook_url,
                "method": run.hook.action_config.webhook_method.as_deref().unwrap_or("POST"),
                "status": null,
                "latencyMs": 0,
                "response": null,
                "error": error,
            });
            return report(started_at, started, detail, Outcome::Failed { error });
        }
    };
    let result = send(env, &request).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let mut detail = json!({
        "url": request.url,
        "method": request.method.as_str(),
        "status": null,
        "latencyMs": latency_ms,
        "response": null,
        "error": null,
    });
    let outcome = match result {
        Ok(response) => {
            detail["status"] = response.status.as_u16().into();
            detail["response"] = String::from_utf8_lossy(&response.head).into();
            detail["responseTruncated"] = response.truncated.into();
            classify(&response)
        }
        Err(error) => {
            detail["error"] = error.clone().into();
            Outcome::Retry {
                error,
                retry_after: None,
            }
        }
    };
    report(started_at, started, detail, outcome)
}

/// Reads the action config into a request: URL, method, rendered headers and body, signature.
/// The error names the `actionConfig` field to fix.
fn build_request(env: &ActionEnv, run: Run<'_>) -> Result<Request, String> {
    let config = &run.hook.action_config;
    let url = config
        .webhook_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .ok_or("actionConfig.webhookUrl is not set")?;
    let method_name = config.webhook_method.as_deref().unwrap_or("POST");
    let method = Method::from_bytes(method_name.to_ascii_uppercase().as_bytes()).map_err(|_| {
        format!("actionConfig.webhookMethod: `{method_name}` is not an HTTP method")
    })?;
    let context = template::context(run.hook, run.execution, run.attempt);
    let (body, content_type) = body(run, &context)?;

    let mut headers = HeaderMap::new();
    if let Some(content_type) = content_type {
        headers.insert(CONTENT_TYPE, header_value("content-type", &content_type)?);
    }
    let user_agent = concat!("hookhub/", env!("CARGO_PKG_VERSION"));
    headers.insert(USER_AGENT, HeaderValue::from_static(user_agent));
    for (name, value) in &config.headers {
        let rendered = template::render(value, &context)
            .map_err(|e| format!("actionConfig.headers.{name}: {e}"))?;
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("actionConfig.headers: `{name}` is not a header name"))?;
        headers.insert(header, header_value(name, &rendered)?);
    }
    for (name, value) in signature(env, run, &body)? {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("signature header `{name}` is not a header name"))?;
        headers.insert(header, header_value(&name, &value)?);
    }
    Ok(Request {
        url,
        method,
        headers,
        body,
    })
}

/// The body to send and its content type. Without `bodyTemplate`, the received bytes go on
/// unchanged with the content type they arrived with, so the receiver can verify or parse them
/// exactly as the original sender meant.
fn body(run: Run<'_>, context: &Value) -> Result<(Vec<u8>, Option<String>), String> {
    let trigger = &run.execution.trigger;
    let Some(body_template) = &run.hook.action_config.body_template else {
        let content_type = trigger.headers.get("content-type").cloned();
        return Ok((trigger.raw_body.0.clone(), content_type));
    };
    let text = template::render(body_template, context)
        .map_err(|e| format!("actionConfig.bodyTemplate: {e}"))?;
    let content_type = if serde_json::from_str::<Value>(&text).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    Ok((text.into_bytes(), Some(content_type.to_string())))
}

/// The signature headers `sign` asks for, made with the first `signingSecret`.
fn signature(env: &ActionEnv, run: Run<'_>, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let config = &run.hook.action_config;
    let scheme = match config.sign {
        None | Some(SignMode::None) => return Ok(Vec::new()),
        Some(SignMode::Github) => "github",
        Some(SignMode::Standard) => "standard",
    };
    let secret =
        config.signing_secret.iter().next().ok_or_else(|| {
            format!("actionConfig.sign is `{scheme}` but signingSecret is not set")
        })?;
    let message_id = run.execution.id.to_string();
    crate::verify::sign_headers(scheme, secret, body, env.clock.now_ms(), &message_id)
        .map_err(|e| format!("actionConfig.signingSecret: {e}"))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value)
        .map_err(|_| format!("header `{name}`: the value is not valid in an HTTP header"))
}

/// Sends the request and reads the head of the response, all within [`ATTEMPT_TIMEOUT`].
async fn send(env: &ActionEnv, request: &Request) -> Result<Response, String> {
    let mut response = env
        .http
        .request(request.method.clone(), &request.url)
        .headers(request.headers.clone())
        .body(request.body.clone())
        .timeout(ATTEMPT_TIMEOUT)
        .send()
        .await
        .map_err(describe)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, env.clock.now_ms()));
    // Only the head is kept, so stop reading there: a huge response costs nothing.
    let mut head = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        head.extend_from_slice(&chunk);
        if head.len() > RESPONSE_KEEP {
            head.truncate(RESPONSE_KEEP);
            truncated = true;
            break;
        }
    }
    Ok(Response {
        status,
        retry_after,
        head,
        truncated,
    })
}

/// A network failure in words a self-hoster can act on, including the underlying cause
/// (reqwest's own message is often just "error sending request").
fn describe(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        format!("timed out after {} s", ATTEMPT_TIMEOUT.as_secs())
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    match causes.last() {
        Some(root) => format!("{kind}: {root}"),
        None => format!("{kind}: {error}"),
    }
}

/// What the receiver's answer means for the execution.
fn classify(response: &Response) -> Outcome {
    let status = response.status;
    if status.is_success() {
        let text = String::from_utf8_lossy(&response.head);
        let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into()));
        return Outcome::Succeeded {
            output: Some(json!({ "status": status.as_u16(), "body": body })),
        };
    }
    let error = format!("the target answered {status}");
    let retryable = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if retryable {
        Outcome::Retry {
            error,
            retry_after: response.retry_after,
        }
    } else {
        Outcome::Failed { error }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::HeaderMap as AxumHeaders;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;
    use crate::actions::test_support::{execution, hook};
    use crate::clock::ManualClock;
    use crate::execution::{AttemptOutcome, Execution};
    use crate::hooks::{ActionConfig, ActionKind, Hook, Secrets, TriggerConfig};
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
        let handler =
            move |method: Method, req_headers: AxumHeaders, req_body: axum::body::Bytes| {
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
        let tools = Default::default();
        let run = Run {
            hook,
            execution: &exe,
            attempt: 1,
            tools: &tools,
        };
        (forward(&env(), run).await, exe)
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
        assert_eq!(report.attempt.outcome, AttemptOutcome::Succeeded);
        assert_eq!(report.attempt.started_at, NOW);

        let seen = seen.lock().unwrap()[0].clone();
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.body, RAW);
        assert_eq!(seen.headers["content-type"], "application/json");
        let ua = seen.headers["user-agent"].to_str().unwrap();
        assert_eq!(ua, concat!("hookhub/", env!("CARGO_PKG_VERSION")));

        let detail = &report.attempt.detail;
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
        assert_eq!(report.attempt.outcome, AttemptOutcome::Retryable);
        assert_eq!(report.attempt.detail["status"], 500);
        assert_eq!(report.attempt.detail["response"], "boom");
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
            assert_eq!(report.attempt.outcome, AttemptOutcome::Failed);
            assert_eq!(report.attempt.detail["status"], status);
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
        assert_eq!(report.attempt.detail["status"], Value::Null);
        assert_eq!(report.attempt.detail["error"], error.as_str());
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
        assert!(!report.attempt.detail.to_string().contains("s3cret"));
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
            body_template: Some(
                r#"{"branch": "{{webhook.body.ref}}", "hook": "{{hook.id}}"}"#.into(),
            ),
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
        let detail = &report.attempt.detail;
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
}
