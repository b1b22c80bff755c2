//! Executions: a hook's log page by page, one execution, replays, and test runs.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorCode};
use crate::execution::{Accepted, Execution, ExecutionId, ExecutionOut, RawBody, Status, Trigger};
use crate::queue::MAX_QUEUED_PER_HOOK;
use crate::queue::retry::RetrySchedule;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/hooks/:id/executions?status=&limit=&cursor=`, newest first.
pub async fn list(
    State(app): State<AppState>,
    Path(hook_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    known_hook(&app, &hook_id)?;
    let status = q
        .status
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|e| ApiError::invalid_field("status", e))?;
    let cursor = q
        .cursor
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<ExecutionId>())
        .transpose()
        .map_err(|e| ApiError::invalid_field("cursor", e))?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let page = app.store.executions_of(&hook_id, status, limit, cursor)?;
    let executions: Vec<ExecutionOut<'_>> = page.executions.iter().map(ExecutionOut::of).collect();
    Ok(Json(json!({
        "executions": executions,
        "nextCursor": page.next_cursor,
    })))
}

/// An execution as `GET /api/executions/:id` shows it: [`ExecutionOut`], and for one that is
/// `retrying`, when each try still ahead would run.
#[derive(Debug)]
pub struct ExecutionDetailOut {
    execution: Execution,
    retry_schedule: Option<Vec<PlannedTryOut>>,
}

impl Serialize for ExecutionDetailOut {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Detail<'a> {
            #[serde(flatten)]
            execution: ExecutionOut<'a>,
            #[serde(skip_serializing_if = "Option::is_none")]
            retry_schedule: Option<&'a [PlannedTryOut]>,
        }
        Detail {
            execution: ExecutionOut::of(&self.execution),
            retry_schedule: self.retry_schedule.as_deref(),
        }
        .serialize(s)
    }
}

/// A [`crate::queue::retry::PlannedTry`] with RFC 3339 times.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PlannedTryOut {
    attempt: u32,
    at: String,
    earliest: String,
    latest: String,
}

/// `GET /api/executions/:id`
pub async fn get(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ExecutionDetailOut>, ApiError> {
    let execution = load(&app, &id)?;
    let retry_schedule = match (execution.status, execution.next_attempt_at) {
        (Status::Retrying, Some(next)) => Some(
            RetrySchedule::ahead(execution.tries(), next)
                .into_iter()
                .map(|t| PlannedTryOut {
                    attempt: t.attempt,
                    at: rfc3339(t.at),
                    earliest: rfc3339(t.earliest),
                    latest: rfc3339(t.latest),
                })
                .collect(),
        ),
        _ => None,
    };
    Ok(Json(ExecutionDetailOut {
        execution,
        retry_schedule,
    }))
}

/// `POST /api/executions/:id/replay`: runs the same delivery again as a new execution.
pub async fn replay(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let original = load(&app, &id)?;
    known_hook(&app, &original.hook_id)?;
    let copy = app.replay_of(&original);
    enqueue(&app, vec![copy]).await
}

#[derive(Debug, Deserialize)]
pub struct ReplayFailedQuery {
    since: Option<String>,
}

/// `POST /api/hooks/:id/replay-failed?since=`: replays every failed execution received since
/// the given time (RFC 3339, or a duration back from now such as `24h`; default 24 h).
pub async fn replay_failed(
    State(app): State<AppState>,
    Path(hook_id): Path<String>,
    Query(q): Query<ReplayFailedQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    known_hook(&app, &hook_id)?;
    let now = app.clock.now_ms();
    let since = match q.since.as_deref().filter(|s| !s.is_empty()) {
        None => now.saturating_sub(24 * 3600 * 1000),
        Some(text) => crate::clock::parse_rfc3339(text)
            .or_else(|| {
                crate::model::duration::parse(text)
                    .ok()
                    .map(|d| now.saturating_sub(d.as_millis() as u64))
            })
            .ok_or_else(|| {
                ApiError::invalid_field("since", "expected an RFC 3339 time or a duration like 24h")
            })?,
    };
    let mut failed = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .store
            .executions_of(&hook_id, Some(Status::Failed), 200, cursor)?;
        let older = page.executions.last().is_none_or(|e| e.received_at < since);
        failed.extend(
            page.executions
                .into_iter()
                .filter(|e| e.received_at >= since),
        );
        match page.next_cursor {
            Some(c) if !older => cursor = Some(c),
            _ => break,
        }
    }
    // Oldest first, and no more than the hook's queue has room for: the rest are left for a
    // later call rather than refusing the whole replay.
    let room = MAX_QUEUED_PER_HOOK.saturating_sub(app.queue.queued(&hook_id));
    let remaining = failed.len().saturating_sub(room);
    let copies = failed
        .iter()
        .rev()
        .take(room)
        .map(|e| app.replay_of(e))
        .collect();
    let (status, Json(mut body)) = enqueue(&app, copies).await?;
    body["remaining"] = json!(remaining);
    Ok((status, Json(body)))
}

/// `POST /api/hooks/:id/test`: runs the action on a sample body (the request body, or a
/// small sample when empty), recorded as a test execution.
pub async fn test(
    State(app): State<AppState>,
    Path(hook_id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let hook = known_hook(&app, &hook_id)?;
    let raw = if body.iter().all(u8::is_ascii_whitespace) {
        json!({"test": true, "hookId": hook_id, "message": "sample event from hookhub"})
            .to_string()
            .into_bytes()
    } else {
        body.to_vec()
    };
    let payload = crate::payload::parse(Some("application/json"), &raw)
        .map_err(|e| ApiError::new(ErrorCode::PayloadInvalid, e.to_string()))?;
    let now = app.clock.now_ms();
    let mut headers = BTreeMap::new();
    headers.insert("content-type".into(), "application/json".to_string());
    let trigger = Trigger {
        path: hook,
        method: "POST".to_string(),
        headers,
        query: BTreeMap::new(),
        query_in_body: true,
        body: payload,
        raw_body: RawBody(raw.into()),
    };
    let execution = Execution {
        label: Some("test run".to_string()),
        event_type: crate::payload::event_type(&Default::default(), &trigger.body),
        test: true,
        ..Execution::queued(&hook_id, trigger, now)
    };
    enqueue(&app, vec![execution]).await
}

/// Writes the executions durably, queues them, and answers 202 with their ids.
async fn enqueue(
    app: &AppState,
    mut executions: Vec<Execution>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    app.queue.submit(&mut executions).await?;
    let body = Accepted {
        accepted: true,
        duplicate: false,
        executions: executions.iter().map(Execution::summary).collect(),
    };
    Ok((StatusCode::ACCEPTED, Json(json!(body))))
}

/// The hook's webhook path, or 404 when there is no such hook.
fn known_hook(app: &AppState, hook_id: &str) -> Result<String, ApiError> {
    app.registry
        .snapshot()
        .hook(hook_id)
        .map(|h| h.hook.trigger_config.webhook_path.clone())
        .ok_or_else(|| super::hooks::not_found(hook_id))
}

fn load(app: &AppState, id: &str) -> Result<Execution, ApiError> {
    let not_found = || ApiError::new(ErrorCode::ExecutionNotFound, format!("no execution `{id}`"));
    let id: ExecutionId = id.parse().map_err(|_| not_found())?;
    app.store.execution(id)?.ok_or_else(not_found)
}
