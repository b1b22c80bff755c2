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
use crate::hooks::ForwardAction;
use crate::model::redact;
use crate::outbound::{parse_retry_after, read_capped};
use crate::template;

/// How long one attempt may take, response body included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of the response is kept in the execution log.
const RESPONSE_KEEP: usize = 1024;

/// The request to send, built from the action and the delivery before anything goes out.
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
pub(super) async fn forward(env: &ActionEnv, run: Run<'_>, action: &ForwardAction) -> Report {
    let started_at = env.clock.now_ms();
    let started = Instant::now();
    let request = match build_request(env, run, action) {
        Ok(request) => request,
        Err(error) => {
            let error = error.to_string();
            let detail = unsent_detail(Some(&action.url), action.method.as_str(), &error);
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
            let error = error.to_string();
            detail["error"] = error.clone().into();
            Outcome::Retry {
                error,
                retry_after: None,
            }
        }
    };
    report(started_at, started, detail, outcome)
}

/// The detail of an attempt that sent nothing because of `error`: the URL as configured, its
/// credentials `[redacted]`.
pub(super) fn unsent_detail(url: Option<&str>, method: &str, error: &str) -> Value {
    json!({
        "url": url.map(redact::url),
        "method": method,
        "status": null,
        "latencyMs": 0,
        "response": null,
        "error": error,
    })
}

/// Why a request could not be built from the action and this delivery. The text names the
/// `actionConfig` field (or header) to fix.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("actionConfig.{field}: {error}")]
    Render {
        field: String,
        error: template::TemplateError,
    },
    #[error("actionConfig.headers: `{0}` is not a header name")]
    HeaderName(String),
    #[error("signature header `{0}` is not a header name")]
    SignatureHeaderName(String),
    #[error("header `{0}`: the value is not valid in an HTTP header")]
    HeaderValue(String),
    #[error("actionConfig.signingSecret: {0}")]
    Sign(String),
}

/// The request to send: the action's URL and method, its headers and body rendered for this
/// delivery, and its signature.
fn build_request(
    env: &ActionEnv,
    run: Run<'_>,
    action: &ForwardAction,
) -> Result<Request, BuildError> {
    let context = template::context(run.hook, run.execution, run.attempt);
    let (body, content_type) = body(run, action, &context)?;

    let mut headers = HeaderMap::new();
    if let Some(content_type) = content_type {
        headers.insert(CONTENT_TYPE, header_value("content-type", &content_type)?);
    }
    let user_agent = concat!("hookhub/", env!("CARGO_PKG_VERSION"));
    headers.insert(USER_AGENT, HeaderValue::from_static(user_agent));
    for (name, value) in &action.headers {
        let rendered = template::render(value, &context).map_err(|error| BuildError::Render {
            field: format!("headers.{name}"),
            error,
        })?;
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| BuildError::HeaderName(name.clone()))?;
        headers.insert(header, header_value(name, &rendered)?);
    }
    for (name, value) in signature(env, run, action, &body)? {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| BuildError::SignatureHeaderName(name.clone()))?;
        headers.insert(header, header_value(&name, &value)?);
    }
    Ok(Request {
        url: action.url.clone(),
        method: action.method.clone(),
        headers,
        body,
    })
}

/// The body to send and its content type. Without `bodyTemplate`, the received bytes go on
/// unchanged with the content type they arrived with, so the receiver can verify or parse them
/// exactly as the original sender meant.
fn body(
    run: Run<'_>,
    action: &ForwardAction,
    context: &Value,
) -> Result<(Vec<u8>, Option<String>), BuildError> {
    let trigger = &run.execution.trigger;
    let Some(body_template) = &action.body_template else {
        let content_type = trigger.headers.get("content-type").cloned();
        return Ok((trigger.raw_body.0.to_vec(), content_type));
    };
    let text = template::render(body_template, context).map_err(|error| BuildError::Render {
        field: "bodyTemplate".into(),
        error,
    })?;
    let content_type = if serde_json::from_str::<Value>(&text).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    Ok((text.into_bytes(), Some(content_type.to_string())))
}

/// The signature headers the action's `sign` asks for.
fn signature(
    env: &ActionEnv,
    run: Run<'_>,
    action: &ForwardAction,
    body: &[u8],
) -> Result<Vec<(String, String)>, BuildError> {
    let Some(signing) = &action.signing else {
        return Ok(Vec::new());
    };
    let message_id = run.execution.id.to_string();
    let now = env.clock.now_ms();
    crate::verify::sign_headers(signing.scheme, &signing.secret, body, now, &message_id)
        .map_err(|e| BuildError::Sign(e.to_string()))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, BuildError> {
    HeaderValue::from_str(value).map_err(|_| BuildError::HeaderValue(name.to_string()))
}

/// Sends the request and reads the head of the response, all within [`ATTEMPT_TIMEOUT`].
async fn send(env: &ActionEnv, request: &Request) -> Result<Response, Unanswered> {
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

/// A request that got no answer, in words a self-hoster can act on: what went wrong and its
/// underlying cause (reqwest's own message is often just "error sending request").
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {cause}")]
struct Unanswered {
    kind: String,
    cause: String,
}

/// The network failure as [`Unanswered`]. The URL reqwest attaches is dropped: it would carry
/// the query's credentials into the execution log.
fn describe(error: reqwest::Error) -> Unanswered {
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
    let cause = match causes.pop() {
        Some(root) => root,
        None => error.to_string(),
    };
    Unanswered { kind, cause }
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
