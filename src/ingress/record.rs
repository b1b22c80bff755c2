//! How every delivery ended, seen from outside everything that may answer it: the handler,
//! the webhook route's bound of `server.requestTimeout` (408, `app.rs`) and `serve::guard`
//! (408 for a stalled body, 429 for a proxied client's share). One `info` log line per refusal
//! (`debug` per accepted delivery), and each refusal kept in the
//! [`crate::state::rejections::Rejections`] ring.
//!
//! The request's headers are only redacted and kept when the answer is a refusal. The webhook
//! route keeps the request's head while the body is read and lends it to [`Seen`], so an
//! accepted delivery pays nothing for that; the middleware, which hands its request on, keeps a
//! copy.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::redact;
use crate::error::{ErrorCode, ErrorInfo};
use crate::state::AppState;
use crate::state::rejections::Rejection;

/// The middleware (see the module doc). Requests outside `/api/webhooks/` pass untouched.
pub async fn record(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let Some(path) = request.uri().path().strip_prefix("/api/webhooks/") else {
        return next.run(request).await;
    };
    let (path, method, headers) = (
        path.to_string(),
        request.method().clone(),
        request.headers().clone(),
    );
    let response = next.run(request).await;
    let seen = Seen {
        path: &path,
        method: &method,
        headers: &headers,
        peer,
    };
    seen.ended(&app, &response);
    response
}

/// What is known of a delivery before it is handled: what [`record`] keeps, or what the webhook
/// route (`app.rs`) lends, since it keeps the request's head while the body is read.
pub struct Seen<'a> {
    /// The hook path, after `/api/webhooks/`.
    pub path: &'a str,
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub peer: SocketAddr,
}

impl Seen<'_> {
    /// Logs the delivery and, when it was refused, keeps it in the ring. The answer's own
    /// code and message come from the [`ErrorInfo`] an `ApiError` leaves on it; an answer
    /// made by a layer without one is described from its status.
    pub fn ended(self, app: &AppState, response: &Response) {
        let snapshot = app.registry.snapshot();
        let server = &snapshot.config.server;
        let client = || crate::serve::client::address(self.peer.ip(), self.headers, server);
        let first_hook = || snapshot.enabled_on_path(self.path).next();
        let status = response.status();
        if status.is_success() {
            // `debug`: a log line costs more than the rest of an accepted delivery's work. Its
            // fields are only worked out when the line is written.
            tracing::debug!(
                status = status.as_u16(),
                hook = first_hook().map_or("-", |h| h.hook.id.as_str()),
                client = %client(),
                "delivery accepted"
            );
            return;
        }
        let client = client().to_string();
        let hook_id = first_hook().map(|h| h.hook.id.clone());
        let hook = hook_id.as_deref().unwrap_or("-");
        let (code, message) = match response.extensions().get::<ErrorInfo>() {
            Some(info) => (info.code.as_str(), info.message.clone()),
            None => described(status, server.request_timeout),
        };
        tracing::info!(status = status.as_u16(), code, hook, client, reason = %message, "delivery refused");
        app.rejections.record(Rejection {
            seq: 0,
            at: crate::clock::rfc3339(app.clock.now_ms()),
            hook_id,
            status: status.as_u16(),
            code: code.into(),
            message,
            client,
            method: self.method.to_string(),
            body_bytes: declared_length(self.headers),
            // Every hook's, not only the path's: a delivery sent to a wrong path may well carry the
            // right hook's key.
            headers: redact::headers(self.headers, &snapshot.secret_headers()),
            path: self.path.to_string(),
        });
    }
}

/// The code and message of an answer no `ApiError` made. `refused` is the ring's own word for
/// a status the hub has no code for; no answer carries it.
fn described(status: StatusCode, request_timeout: std::time::Duration) -> (&'static str, String) {
    match status {
        StatusCode::REQUEST_TIMEOUT => (
            ErrorCode::RequestTimeout.as_str(),
            format!(
                "the delivery was not handled within server.requestTimeout ({} s)",
                request_timeout.as_secs_f32()
            ),
        ),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound.as_str(), "no such route".into()),
        _ => (
            "refused",
            format!(
                "answered {status} by the HTTP layer ({})",
                status.canonical_reason().unwrap_or("no reason")
            ),
        ),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
