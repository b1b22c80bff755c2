//! Answers other than the hub's own 202 (SPEC §11 "Sender handshakes"), both given only to a
//! verified sender:
//!
//! - Slack's Events API `url_verification` request gets its `challenge` back as text with a
//!   200, and nothing is recorded: it is Slack checking the Request URL, not an event.
//! - A hook's `triggerConfig.response` replaces the 202 JSON. It is built only after the
//!   executions are on disk, so a sender told "done" can never lose the delivery. A repeat
//!   (200 duplicate) gets the answer the first delivery got, rendered over the first
//!   execution, so a sender retrying a lost answer sees what it expects; a delivery the
//!   filters skipped gets it too, since the sender did nothing wrong.
//!
//! Each answer carries how the delivery ended ([`Ended`]) for `/metrics`, because its status
//! alone (a configured 200) no longer tells an accepted delivery from a duplicate.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use crate::execution::{Execution, ExecutionId};
use crate::hooks::LiveHook;
use crate::model::{DEFAULT_CONTENT_TYPE, ResponseConfig};
use crate::state::AppState;
use crate::template;

/// How an answered delivery ended, as `hookhub_deliveries_total{result}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended(pub &'static str);

/// The `result` label of an answered delivery: the one its answer carries, else read from
/// the hub's own answer (200 duplicate, 202 accepted).
pub fn result_of(response: &Response) -> &'static str {
    match response.extensions().get::<Ended>() {
        Some(Ended(result)) => result,
        None if response.status() == StatusCode::OK => "duplicate",
        None => "accepted",
    }
}

/// Slack's Events API set-up request, as Slack documents it.
#[derive(Deserialize)]
struct UrlVerification {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
}

/// The answer to Slack's `url_verification` when a verified hook on the path uses the `slack`
/// scheme and the body is that request; `None` for every other delivery.
pub fn slack_challenge(verified: &[&Arc<LiveHook>], body: &[u8]) -> Option<Response> {
    let hook = verified
        .iter()
        .find(|h| h.hook.trigger_config.scheme_name() == "slack")?;
    let request: UrlVerification = serde_json::from_slice(body).ok()?;
    if request.kind != "url_verification" {
        return None;
    }
    tracing::info!(hook = %hook.hook.id, "answered Slack's url_verification challenge");
    Some(respond(
        StatusCode::OK,
        Some(HeaderValue::from_static(DEFAULT_CONTENT_TYPE)),
        request.challenge,
        "handshake",
    ))
}

/// The configured answer of the first verified hook (in path order) that has one, over its
/// execution of this delivery; `None` when no hook has one, or it cannot be given (logged):
/// the hub's own answer is sent then, since the executions are already accepted.
pub fn configured(
    app: &AppState,
    verified: &[&Arc<LiveHook>],
    executions: &[Execution],
    duplicates: &[(String, ExecutionId)],
) -> Option<Response> {
    let (hook, config) = verified
        .iter()
        .find_map(|h| Some((h, h.hook.trigger_config.response.as_ref()?)))?;
    let id = &hook.hook.id;
    let (execution, result) = match executions.iter().find(|e| e.hook_id == *id) {
        Some(e) => (Cow::Borrowed(e), "accepted"),
        None => {
            let (_, first) = duplicates.iter().find(|(hook_id, _)| hook_id == id)?;
            (Cow::Owned(first_execution(app, id, *first)?), "duplicate")
        }
    };
    let body = match &config.body {
        Some(source) => {
            let context = template::context(&hook.hook, &execution, 0);
            template::render(source, &context)
                .inspect_err(|error| {
                    tracing::warn!(
                        hook = %id, %error,
                        "triggerConfig.response.body did not render; sent the hub's own answer"
                    );
                })
                .ok()?
        }
        None => String::new(),
    };
    Some(build(config, body, result))
}

/// The execution a repeat was first accepted as; `None` (logged) once it is gone.
fn first_execution(app: &AppState, hook_id: &str, first: ExecutionId) -> Option<Execution> {
    let why = match app.store.execution(first) {
        Ok(Some(e)) => return Some(e),
        Ok(None) => "it is gone (retention)".to_string(),
        Err(error) => error.to_string(),
    };
    tracing::warn!(
        hook = %hook_id, execution = %first, why,
        "could not read the first execution of a repeated delivery; sent the hub's own answer"
    );
    None
}

fn build(config: &ResponseConfig, body: String, result: &'static str) -> Response {
    // Both were checked when the hook was loaded; the fallbacks only keep this total.
    let status = StatusCode::from_u16(config.status).unwrap_or(StatusCode::OK);
    if status == StatusCode::NO_CONTENT {
        return respond(status, None, String::new(), result);
    }
    let content_type = HeaderValue::from_str(config.content_type())
        .unwrap_or_else(|_| HeaderValue::from_static(DEFAULT_CONTENT_TYPE));
    respond(status, Some(content_type), body, result)
}

fn respond(
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: String,
    result: &'static str,
) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.extensions_mut().insert(Ended(result));
    response
}
