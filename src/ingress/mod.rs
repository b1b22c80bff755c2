//! `/api/webhooks/:path` (SPEC §4): find the hooks, check the method, the client address and
//! the size, verify the sender, read the payload, decide per hook (filters, lock key, dedupe),
//! write the executions durably, then answer 202 (or what `answer` says a sender is owed).
//! Ingress never runs an action itself; it hands durable executions to the queue. How each
//! delivery ended — accepted or refused at any step, by the handler or a layer around it — is
//! logged and kept by [`record`].

mod answer;
mod deadline;
mod record;
mod redact;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use bytes::BufMut as _;
use smallvec::SmallVec;

use crate::error::{ApiError, ErrorCode};
use crate::execution::{Accepted, Execution, ExecutionId, RawBody, Summary, Trigger};
use crate::filter::FilterInput;
use crate::hooks::{LiveHook, Snapshot};
use crate::payload::{self, Payload};
use crate::serve::{RequestId, client};
use crate::state::AppState;
use crate::store::Claim;
use crate::verify::{Delivery, Signed, VerifyError};

pub use deadline::Deadline;
pub use record::{Seen, record};

/// How long a delivery id is remembered for dedupe.
pub const DEDUPE_WINDOW_MS: u64 = 24 * 3600 * 1000;

/// Handles one delivery, its head lent by the caller (which keeps it to record how the
/// delivery ended and runs it within `deadline`), counting how it ended for `/metrics`.
pub async fn receive(
    app: &AppState,
    peer: SocketAddr,
    head: &Parts,
    body: Body,
    deadline: &Deadline,
) -> Result<Response, ApiError> {
    let path = hook_path(&head.uri);
    // One snapshot for the whole delivery, so its label and its handling see the same hooks.
    let snapshot = app.registry.snapshot();
    let first_hook = snapshot.enabled_on_path(path).next().cloned();
    let request = Request {
        snapshot,
        peer,
        path,
        raw_query: head.uri.query(),
        method: &head.method,
        headers: &head.headers,
        request_id: head.extensions.get::<RequestId>().map(|RequestId(id)| id),
        deadline,
    };
    let answered = handle(app, request, body).await;
    let result = match &answered {
        Ok(response) => answer::result_of(response),
        Err(e) => e.code.as_str(),
    };
    let first_hook = first_hook.as_ref().map_or("-", |h| h.hook.id.as_str());
    crate::telemetry::delivery(first_hook, result);
    answered
}

/// What arrived, besides the body, and the hooks in force when it did.
struct Request<'a> {
    snapshot: Arc<Snapshot>,
    peer: SocketAddr,
    path: &'a str,
    method: &'a Method,
    raw_query: Option<&'a str>,
    headers: &'a HeaderMap,
    /// The `X-Request-Id` the request came with or was given (`serve::traced`).
    request_id: Option<&'a HeaderValue>,
    deadline: &'a Deadline,
}

async fn handle(app: &AppState, request: Request<'_>, body: Body) -> Result<Response, ApiError> {
    let Request {
        snapshot,
        peer,
        path,
        method,
        raw_query,
        headers,
        request_id,
        deadline,
    } = request;
    let client = client::address(peer.ip(), headers, &snapshot.config.server);
    let limit = &snapshot.config.server.rate_limit;
    if let Err(wait) = app.limiter.check(client, app.clock.now_ms(), limit) {
        let message = format!("too many deliveries from {client}; try again in {wait} s");
        return Err(ApiError::new(ErrorCode::RateLimited, message).with_retry_after(wait));
    }
    let on_path: Hooks<'_> = snapshot.enabled_on_path(path).collect();
    let accepting = hooks_for(&on_path, method, path)?;
    let secret_headers = secret_headers(on_path.iter().copied());
    let reachable: Hooks<'_> = accepting
        .into_iter()
        .filter(|h| client::allowed(client, &h.hook.trigger_config.ip_allowlist))
        .collect();
    if reachable.is_empty() {
        return Err(ApiError::new(
            ErrorCode::IpNotAllowed,
            format!("client address {client} is not in the hook's triggerConfig.ipAllowlist"),
        ));
    }
    // Nothing can be kept while the disk refuses writes: say so before any work.
    if let Some(failure) = app.store.health().failure() {
        return Err(ApiError::storage(failure));
    }
    let raw = read_body(headers, body, snapshot.config.server.max_body_bytes).await?;
    let now_ms = app.clock.now_ms();
    let delivery = Delivery {
        headers,
        body: &raw,
        now_ms,
    };
    let verified = verify_all(&reachable, &delivery)?;
    if let Some(challenge) = answer::slack_challenge(&verified, &raw) {
        return Ok(challenge);
    }

    let query = parse_query(raw_query);
    let read = match verified.iter().any(|h| reads_body(h, method, &query)) {
        true => payload::read,
        false => payload::read_summary,
    };
    let mut payload =
        read(headers, &raw).map_err(|e| ApiError::new(ErrorCode::PayloadInvalid, e.to_string()))?;
    let mut trigger = Some(Trigger {
        path: path.to_string(),
        method: method.to_string(),
        headers: redact::headers(headers, &secret_headers),
        query,
        query_in_body: false,
        body: std::mem::take(&mut payload.body),
        raw_body: RawBody(raw.clone()),
    });
    let request_id = request_id
        .and_then(|v| v.to_str().ok())
        // `to_str` passes only visible ASCII, a byte a character.
        .map(|v| v.get(..64).unwrap_or(v).to_string());
    let mut admitted = Admitted::new(app.store.clone());
    let last = verified.len().saturating_sub(1);
    for (n, hook) in verified.iter().enumerate() {
        // Each hook gets its own copy; the last one takes the original.
        let trigger = if n == last {
            trigger.take()
        } else {
            trigger.clone()
        };
        let trigger = trigger.expect("taken only for the last hook");
        let mut execution = new_execution(hook, trigger, headers, &payload, now_ms);
        execution.request_id = request_id.clone();
        admitted.add(app, hook, execution, hook.signed(&delivery))?;
    }
    // A disk that takes seconds to sync is waited for within the request's time, then the
    // delivery is refused (and taken back) before the client or a proxy gives up on it.
    match deadline.bounded(admitted.submit(app, &verified)).await {
        Some(answer) => answer,
        None => Err(ApiError::storage_slow()),
    }
}

/// The hook path of `/api/webhooks/<path>` exactly as the request wrote it. It is not
/// percent-decoded: a hook path is only `a-z 0-9 - _ /`, so an escape (`%2F`, `%2e%2e`) can
/// never name a hook, and a path cannot alias another hook through decoding.
pub fn hook_path(uri: &Uri) -> &str {
    let path = uri.path();
    path.strip_prefix("/api/webhooks/").unwrap_or(path)
}

/// Hooks a delivery is for, at each step: on the stack for the few a path has.
type Hooks<'a> = SmallVec<[&'a Arc<LiveHook>; 4]>;

/// The enabled hooks on the path that take this method: 404 when there are none on the path,
/// 405 when none takes the method.
fn hooks_for<'a>(
    on_path: &[&'a Arc<LiveHook>],
    method: &Method,
    path: &str,
) -> Result<Hooks<'a>, ApiError> {
    if on_path.is_empty() {
        return Err(ApiError::new(
            ErrorCode::HookNotFound,
            format!("no enabled hook listens on /api/webhooks/{path}"),
        ));
    }
    let accepting: Hooks<'_> = on_path
        .iter()
        .copied()
        .filter(|h| accepts(h, method))
        .collect();
    if accepting.is_empty() {
        return Err(method_not_allowed(on_path, method));
    }
    Ok(accepting)
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
        ErrorCode::MethodNotAllowed,
        format!("{method} is not accepted here; use {}", allowed.join(", ")),
    )
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads the body, refusing it before it is read whole when it is over the limit. A body
/// that stalled (cut by `serve::guard`, which answers 408 itself) is not called too large.
async fn read_body(headers: &HeaderMap, body: Body, limit: u64) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("body is larger than server.maxBodyBytes ({limit} bytes)"),
        )
    };
    if declared_length(headers).is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|e| {
            if timed_out(&e) {
                ApiError::new(ErrorCode::RequestTimeout, "the body stopped arriving")
            } else {
                too_large()
            }
        })
}

/// Whether an error's source chain holds a timed-out IO error.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// The hooks whose sender is verified; 401 when none is. The answer explains the first
/// hook's failure, preferring a stale timestamp (which needs a different fix) when there is one.
fn verify_all<'a>(
    hooks: &[&'a Arc<LiveHook>],
    delivery: &Delivery<'_>,
) -> Result<Hooks<'a>, ApiError> {
    let mut verified = Hooks::new();
    let mut errors: Vec<VerifyError> = Vec::new();
    for hook in hooks {
        match hook.verify(delivery) {
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
    Err(error.into())
}

/// The custom headers that carry a secret or signature (`triggerConfig.header` of the `header`
/// and `hmac` schemes) of `hooks`. A delivery is redacted with those of every hook on its path,
/// not only the verified hook's: a sender may carry one hook's key to its neighbour on the
/// path, and a refusal belongs to no hook at all.
fn secret_headers<'a>(hooks: impl IntoIterator<Item = &'a Arc<LiveHook>>) -> Vec<String> {
    let mut names: Vec<String> = hooks
        .into_iter()
        .filter_map(|h| h.hook.trigger_config.header.clone())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn parse_query(raw: Option<&str>) -> BTreeMap<String, String> {
    raw.and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .map(|pairs| pairs.into_iter().collect())
        .unwrap_or_default()
}

/// Whether a hook looks at the parsed body while the delivery is taken: its filter, key
/// templates or answer, or the query merged into the body. If none does, the body is only
/// checked and summarised here; an action reads it again from the stored raw bytes.
fn reads_body(hook: &LiveHook, method: &Method, query: &BTreeMap<String, String>) -> bool {
    let config = &hook.hook.trigger_config;
    config.filter.is_some()
        || config.lock_key.is_some()
        || config.dedupe_key.is_some()
        || config.response.is_some()
        || (config.merges_query(method.as_str()) && !query.is_empty())
}

/// The execution one verified hook makes of the delivery, from a trigger whose headers are
/// redacted already. The query joins the body only where the hook's scheme authenticates it
/// (`TriggerConfig::merges_query`); the event type and label are then read from the body the
/// hook sees.
fn new_execution(
    hook: &LiveHook,
    mut trigger: Trigger,
    headers: &HeaderMap,
    payload: &Payload,
    now_ms: u64,
) -> Execution {
    let config = &hook.hook.trigger_config;
    let (mut label, mut event_type) = (payload.label.clone(), payload.event_type.clone());
    if config.merges_query(&trigger.method) && !trigger.query.is_empty() {
        payload::merge_query(&mut trigger.body, &trigger.query);
        label = payload::label(&trigger.body);
        event_type = payload::event_type(headers, &trigger.body);
    }
    trigger.query_in_body = config.merges_query(&trigger.method);
    Execution {
        label,
        event_type,
        delivery_id: payload.delivery_id.clone(),
        ..Execution::queued(&hook.hook.id, trigger, now_ms)
    }
}

/// The executions one delivery makes, and the repeats it turned out to be.
struct Admitted {
    store: Arc<crate::store::Store>,
    executions: Vec<Execution>,
    /// (hook id, first execution) for deliveries seen before.
    duplicates: Vec<(String, ExecutionId)>,
    /// (hook id, delivery id) claimed by this delivery, given back if it is not accepted:
    /// when it is dropped with claims left (an error, or the request gave up waiting).
    claims: Vec<(String, String)>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        release(&*self.store, &self.claims);
    }
}

impl Admitted {
    fn new(store: Arc<crate::store::Store>) -> Self {
        Self {
            store,
            executions: Vec::new(),
            duplicates: Vec::new(),
            claims: Vec::new(),
        }
    }

    /// Decides what one verified hook does with the delivery: skip it (filters), note its lock
    /// key, and claim its delivery id and signature — or find that it is a repeat.
    fn add(
        &mut self,
        app: &AppState,
        hook: &LiveHook,
        mut e: Execution,
        signed: Signed,
    ) -> Result<(), ApiError> {
        let input = FilterInput {
            body: &e.trigger.body,
            headers: &e.trigger.headers,
            query: &e.trigger.query,
            event_type: e.event_type.as_deref(),
        };
        if let Err(reason) = hook.admits(&input) {
            // Recorded, so the log shows what arrived and why nothing ran.
            e.skip(reason.to_string());
            self.executions.push(e);
            return Ok(());
        }
        e.lock_key = keys::lock_key(hook, &e)?;
        // A signed id outranks everything: an unsigned header could be changed by anyone
        // replaying the delivery.
        if let Some(id) = signed.id.or_else(|| keys::dedupe_key(hook, &e)) {
            e.delivery_id = Some(id);
        }
        let mut claims = Vec::new();
        if let Some(replay) = signed.replay {
            claims.push((replay.key, replay.window_ms));
        }
        if let Some(delivery_id) = e.delivery_id.clone() {
            claims.push((delivery_id, DEDUPE_WINDOW_MS));
        }
        for (key, window_ms) in claims {
            if let Some(first) = self.claim(app, &e, key, window_ms)? {
                // Claims this execution made for the delivery go back: it is not kept.
                self.release_of(&e.hook_id);
                self.duplicates.push((e.hook_id, first));
                return Ok(());
            }
        }
        self.executions.push(e);
        Ok(())
    }

    /// Claims `key` for the execution: `Some(first execution)` when it was claimed already.
    fn claim(
        &mut self,
        app: &AppState,
        e: &Execution,
        key: String,
        window_ms: u64,
    ) -> Result<Option<ExecutionId>, ApiError> {
        let claimed = app
            .store
            .claim_delivery(&e.hook_id, &key, e.id, e.received_at, window_ms)?;
        match claimed {
            Claim::Duplicate(first) => Ok(Some(first)),
            Claim::New => {
                self.claims.push((e.hook_id.clone(), key));
                Ok(None)
            }
        }
    }

    /// Gives back the claims made for `hook_id`'s execution of this delivery.
    fn release_of(&mut self, hook_id: &str) {
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.claims)
            .into_iter()
            .partition(|(hook, _)| hook == hook_id);
        self.claims = others;
        release(&*self.store, &mine);
    }

    /// Writes the executions durably and answers: a hook's configured `response` when one of
    /// `verified` has it, else 202 when anything new was accepted, 200 `duplicate: true` when
    /// every hook had seen this delivery before.
    async fn submit(
        mut self,
        app: &AppState,
        verified: &[&Arc<LiveHook>],
    ) -> Result<Response, ApiError> {
        app.queue.submit(&mut self.executions).await?;
        // Accepted: the claims stand.
        self.claims.clear();
        for e in self.executions.iter().filter(|e| e.status.is_final()) {
            crate::telemetry::finished(&e.hook_id, e.status.as_str());
        }
        if let Some(answer) = answer::configured(app, verified, &self.executions, &self.duplicates)
        {
            return Ok(answer);
        }
        let mut listed: Vec<Summary<'_>> = self.executions.iter().map(Execution::summary).collect();
        listed.extend(self.duplicates.iter().map(|(hook_id, first)| Summary {
            hook_id,
            execution_id: *first,
            status: None,
            collapsed_into: None,
            skip_reason: None,
            duplicate: true,
        }));
        // 200 when every hook had seen the delivery before: nothing new was accepted.
        let duplicate = self.executions.is_empty();
        let status = if duplicate {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        let body = Accepted {
            accepted: true,
            duplicate,
            executions: listed,
        };
        // Written into one buffer of about its size: `Json` starts at 128 bytes and grows.
        let mut json = bytes::BytesMut::with_capacity(256).writer();
        serde_json::to_writer(&mut json, &body)
            .map_err(|e| ApiError::internal(format!("could not write the answer: {e}")))?;
        let mut response = Response::new(Body::from(json.into_inner().freeze()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }
}

/// Gives back dedupe claims of executions that were not accepted after all.
fn release(store: &crate::store::Store, claims: &[(String, String)]) {
    for (hook_id, key) in claims {
        if let Err(e) = store.release_delivery(hook_id, key) {
            tracing::warn!(hook = %hook_id, error = %e, "could not release a dedupe claim");
        }
    }
}

mod keys;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_paths_are_taken_as_written() {
        let path = |p: &str| hook_path(&p.parse::<Uri>().unwrap()).to_string();
        assert_eq!(path("/api/webhooks/team/deploy?x=1"), "team/deploy");
        // Escapes stay escapes, so they match no hook instead of a decoded neighbour.
        assert_eq!(path("/api/webhooks/team%2Fdeploy"), "team%2Fdeploy");
        assert_eq!(path("/api/webhooks/%2e%2e/team"), "%2e%2e/team");
        assert_eq!(path("/api/webhooks/../hooks"), "../hooks");
    }

    /// A body the guard cut for stalling is a 408 to ingress too, so `/metrics` counts it as
    /// what it was.
    #[tokio::test]
    async fn a_stalled_body_is_not_called_too_large() {
        let stalled = futures_util::stream::iter([Err::<bytes::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "request body refused",
        ))]);
        let error = read_body(&HeaderMap::new(), Body::from_stream(stalled), 1024)
            .await
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::REQUEST_TIMEOUT);
        let broken =
            futures_util::stream::iter([Err::<bytes::Bytes, _>(std::io::Error::other("reset"))]);
        let error = read_body(&HeaderMap::new(), Body::from_stream(broken), 1024)
            .await
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
