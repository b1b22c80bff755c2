//! `/api/webhooks/:path` (SPEC §4): find the hooks, check the method and size, verify the
//! sender, parse the payload, write one execution per verified hook durably, then answer 202.
//! Ingress never runs an action itself; it hands durable executions to the queue.

mod redact;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;
use crate::execution::{Execution, RawBody, Trigger};
use crate::hooks::LiveHook;
use crate::payload;
use crate::verify::{Delivery, VerifyError};

pub use redact::REDACTED;

/// Handles one delivery.
pub async fn receive(
    State(app): State<AppState>,
    Path(path): Path<String>,
    method: Method,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let snapshot = app.registry.snapshot();
    let on_path: Vec<&Arc<LiveHook>> = snapshot.enabled_on_path(&path).collect();
    if on_path.is_empty() {
        return Err(ApiError::not_found(
            "hook_not_found",
            format!("no enabled hook listens on /api/webhooks/{path}"),
        ));
    }
    let accepting: Vec<&Arc<LiveHook>> = on_path
        .iter()
        .copied()
        .filter(|h| accepts(h, &method))
        .collect();
    if accepting.is_empty() {
        return Err(method_not_allowed(&on_path, &method));
    }
    let raw = read_body(&headers, body, snapshot.config.server.max_body_bytes).await?;
    let now_ms = app.clock.now_ms();
    let delivery = Delivery {
        headers: &headers,
        body: &raw,
        now_ms,
    };
    let verified = verify_all(&accepting, &delivery)?;

    let query = parse_query(raw_query.as_deref());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let body = payload::parse(content_type, &raw, &query)
        .map_err(|e| ApiError::bad_request("payload_invalid", e.to_string()))?;

    let trigger = Trigger {
        path,
        method: method.to_string(),
        headers: BTreeMap::new(),
        query,
        body,
        raw_body: RawBody(raw.to_vec()),
    };
    let executions: Vec<Execution> = verified
        .iter()
        .map(|hook| new_execution(hook, &trigger, &headers, now_ms))
        .collect();
    app.queue.submit(&executions).await?;
    Ok(accepted(&executions))
}

fn accepts(hook: &LiveHook, method: &Method) -> bool {
    method == Method::POST
        || hook
            .hook
            .trigger_config
            .methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method.as_str()))
}

fn method_not_allowed(hooks: &[&Arc<LiveHook>], method: &Method) -> ApiError {
    let mut allowed = vec!["POST".to_string()];
    for h in hooks {
        for m in &h.hook.trigger_config.methods {
            let m = m.to_ascii_uppercase();
            if !allowed.contains(&m) {
                allowed.push(m);
            }
        }
    }
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not accepted here; use {}", allowed.join(", ")),
    )
}

/// Reads the body, refusing it before it is read whole when it is over the limit.
async fn read_body(headers: &HeaderMap, body: Body, limit: u64) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body is larger than server.maxBodyBytes ({limit} bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|_| too_large())
}

/// The hooks whose sender is verified; 401 when none is. The answer explains the first
/// hook's failure, preferring a stale timestamp (which needs a different fix) when there is one.
fn verify_all<'a>(
    hooks: &[&'a Arc<LiveHook>],
    delivery: &Delivery<'_>,
) -> Result<Vec<&'a Arc<LiveHook>>, ApiError> {
    let mut verified = Vec::new();
    let mut errors: Vec<VerifyError> = Vec::new();
    for hook in hooks {
        match hook.verifier.verify(delivery) {
            Ok(()) => verified.push(*hook),
            Err(e) => errors.push(e),
        }
    }
    if !verified.is_empty() {
        return Ok(verified);
    }
    let error = errors
        .iter()
        .find(|e| matches!(e, VerifyError::TimestampOutOfTolerance { .. }))
        .or(errors.first())
        .cloned()
        .unwrap_or(VerifyError::NoSecret);
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        error.code(),
        error.to_string(),
    ))
}

fn parse_query(raw: Option<&str>) -> BTreeMap<String, String> {
    raw.and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .map(|pairs| pairs.into_iter().collect())
        .unwrap_or_default()
}

fn new_execution(
    hook: &LiveHook,
    trigger: &Trigger,
    headers: &HeaderMap,
    now_ms: u64,
) -> Execution {
    let extra: Vec<&str> = hook
        .hook
        .trigger_config
        .header
        .as_deref()
        .into_iter()
        .collect();
    let trigger = Trigger {
        headers: redact::headers(headers, &extra),
        ..trigger.clone()
    };
    Execution {
        label: payload::label(&trigger.body),
        event_type: payload::event_type(headers, &trigger.body),
        delivery_id: payload::delivery_id(headers),
        ..Execution::queued(&hook.hook.id, trigger, now_ms)
    }
}

/// 202 listing the durable executions.
fn accepted(executions: &[Execution]) -> Response {
    let listed: Vec<_> = executions
        .iter()
        .map(|e| json!({"hookId": e.hook_id, "executionId": e.id, "status": e.status}))
        .collect();
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": true, "executions": listed })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
