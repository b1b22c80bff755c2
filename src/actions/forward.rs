//! The `webhook` action: forward the event to another URL (SPEC §6).
//!
//! One call is one HTTP attempt. What the receiver answered decides the outcome: 2xx succeeds;
//! network errors, 408, 429 and 5xx are worth retrying (the queue's schedule decides when);
//! anything else is the receiver refusing, and repeating the request would not change its mind.
//! The signing secret goes into the request's signature only, never into the recorded detail;
//! the URL is recorded with its credentials `[redacted]` (SPEC §11), and no error text recorded
//! carries the URL itself.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ActionEnv, Outcome, Report, Run, report};
use crate::hooks::{SignMode, redact};
use crate::outbound::{parse_retry_after, read_capped};
use crate::template;

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
                "url": run.hook.action_config.webhook_url.as_deref().map(redact::url),
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
        "url": redact::url(&request.url),
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
    let (head, truncated) = read_capped(&mut response, RESPONSE_KEEP)
        .await
        .map_err(describe)?;
    Ok(Response {
        status,
        retry_after,
        head,
        truncated,
    })
}

/// A network failure in words a self-hoster can act on, including the underlying cause
/// (reqwest's own message is often just "error sending request"). The URL reqwest attaches is
/// dropped: it would carry the query's credentials into the execution log.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
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
#[path = "forward_tests.rs"]
mod tests;
