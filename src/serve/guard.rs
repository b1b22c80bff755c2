//! Every request's body and share, as a middleware around the whole router: the body must keep
//! moving (nothing for [`super::Limits::body_idle_timeout`] is 408) and arrive whole within
//! `server.requestTimeout` of the request's first byte (408); routes open before sign-in take
//! at most [`OPEN_ROUTE_MAX_BODY`] (413), admin routes their own cap, and webhooks
//! `server.maxBodyBytes` (enforced by ingress, which records the refusal). Behind a trusted
//! proxy, each request takes one of its client's `server.maxConnectionsPerClient` slots for as
//! long as it runs (429 when they are all taken).
//!
//! The body is wrapped, not read here: a handler that refuses a request first (no admin
//! token) never reads it. When the wrapper gives up, it trips a wire the middleware checks
//! after the handler, so whatever the handler made of the broken body, the client hears why.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use tokio::time::Sleep;

use super::CurrentConfig;
use crate::config::ServerConfig;
use crate::error::{ApiError, ErrorCode};
use crate::limit::ClientSlots;

/// Routes anyone may call before signing in; the only bodies an unauthenticated client can
/// make the hub read besides deliveries.
pub const OPEN_ROUTES: &[&str] = &["/api/session", "/api/channels/slack/commands"];
/// The most an open route reads: a sign-in or a Slack command is a few hundred bytes.
pub const OPEN_ROUTE_MAX_BODY: u64 = 16 * 1024;
/// The least an admin route may read (a hook, a test body); `server.maxBodyBytes` when larger.
const ADMIN_MIN_BODY: u64 = 1024 * 1024;

/// When a request's first byte arrived, set by the server loop.
#[derive(Debug, Clone, Copy)]
pub struct Arrival(pub Instant);

/// What the middleware needs.
#[derive(Clone)]
pub struct RequestRules {
    pub config: CurrentConfig,
    pub slots: Arc<ClientSlots>,
    pub body_idle_timeout: Duration,
}

/// The middleware (see the module doc).
pub async fn guard(
    State(rules): State<RequestRules>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let (head, body) = request.into_parts();
    let admitted = match admit(&rules, peer, &head) {
        Ok(admitted) => admitted,
        Err(refused) => return refused.into_response(),
    };
    let body = admitted.wrap(body);
    admitted.finish(next.run(Request::from_parts(head, body)).await)
}

/// A request the guard let in: its client's slot, held until [`Admitted::finish`], and the
/// limits its body is read under. [`guard`] in three steps ([`admit`], [`Admitted::wrap`],
/// [`Admitted::finish`]) for a caller outside axum's middleware that keeps the request's head
/// while its body is read, such as the webhook route (`app.rs`).
pub struct Admitted {
    _slot: Option<crate::limit::ClientSlot>,
    wire: Arc<Tripwire>,
    limits: BodyLimits,
    request_timeout: Duration,
}

/// Lets a request in, or answers it: 429 when its proxied client has no slot left, 413 when it
/// says its body is over the route's cap.
pub fn admit(rules: &RequestRules, peer: SocketAddr, head: &Parts) -> Result<Admitted, ApiError> {
    let config = (rules.config)();
    let server = &config.server;
    let slot = proxied_client_slot(rules, server, peer, &head.headers)?;
    let cap = body_cap(head.uri.path(), server);
    if let Some(cap) = cap
        && declared_length(&head.headers).is_some_and(|len| len > cap)
    {
        return Err(too_large(cap));
    }
    let arrived = head
        .extensions
        .get::<Arrival>()
        .map_or_else(Instant::now, |a| a.0);
    Ok(Admitted {
        _slot: slot,
        wire: Arc::new(Tripwire::default()),
        limits: BodyLimits {
            deadline: arrived + server.request_timeout,
            idle: rules.body_idle_timeout,
            cap,
        },
        request_timeout: server.request_timeout,
    })
}

impl Admitted {
    /// The body, read under the request's limits.
    pub fn wrap(&self, body: Body) -> Body {
        Body::new(Guarded::new(body, self.limits, self.wire.clone()))
    }

    /// The answer the client gets: the handler's, unless the body was given up on.
    pub fn finish(self, response: Response) -> Response {
        match self.wire.tripped() {
            Some(Trip::Timeout) => closing(timed_out(self.request_timeout, self.limits.idle)),
            Some(Trip::TooLarge) => closing(too_large(self.limits.cap.unwrap_or(0))),
            None => response,
        }
    }
}

/// Behind a trusted proxy, the slot of the client it names; `Ok(None)` for a direct client,
/// whose connection holds its slot already.
fn proxied_client_slot(
    rules: &RequestRules,
    server: &ServerConfig,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Option<crate::limit::ClientSlot>, ApiError> {
    if !server
        .trusted_proxies
        .iter()
        .any(|n| n.contains(&peer.ip()))
    {
        return Ok(None);
    }
    let client = super::client::address(peer.ip(), headers, server);
    match rules
        .slots
        .try_take(client, server.max_connections_per_client)
    {
        Some(slot) => Ok(Some(slot)),
        None => Err(ApiError::new(
            ErrorCode::TooManyConnections,
            format!(
                "{client} has {} requests open already (server.maxConnectionsPerClient)",
                server.max_connections_per_client
            ),
        )
        .with_retry_after(1)),
    }
}

/// The most a route's body may be; `None` where the handler enforces its own limit.
fn body_cap(path: &str, server: &ServerConfig) -> Option<u64> {
    if path.starts_with("/api/webhooks/") {
        None
    } else if OPEN_ROUTES.contains(&path) {
        Some(OPEN_ROUTE_MAX_BODY)
    } else {
        Some(server.max_body_bytes.max(ADMIN_MIN_BODY))
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

fn too_large(cap: u64) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("this route takes bodies of at most {cap} bytes"),
    )
}

fn timed_out(whole: Duration, idle: Duration) -> ApiError {
    ApiError::new(
        ErrorCode::RequestTimeout,
        format!(
            "the request did not arrive in time: a body must keep moving (nothing for {} s) \
             and arrive whole within server.requestTimeout ({} s)",
            idle.as_secs_f32(),
            whole.as_secs_f32()
        ),
    )
}

/// The connection's body is half-read: close it after answering.
fn closing(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Why a body was given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    Timeout = 1,
    TooLarge = 2,
}

/// Set by a [`Guarded`] body when it gives up, read by the middleware after the handler.
#[derive(Debug, Default)]
struct Tripwire(AtomicU8);

impl Tripwire {
    fn trip(&self, why: Trip) -> std::io::Error {
        self.0.store(why as u8, Ordering::Relaxed);
        let kind = match why {
            Trip::Timeout => std::io::ErrorKind::TimedOut,
            Trip::TooLarge => std::io::ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, "request body refused")
    }

    fn tripped(&self) -> Option<Trip> {
        match self.0.load(Ordering::Relaxed) {
            1 => Some(Trip::Timeout),
            2 => Some(Trip::TooLarge),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct BodyLimits {
    deadline: Instant,
    idle: Duration,
    cap: Option<u64>,
}

/// A request body that must keep moving, arrive by a deadline and stay under a cap.
struct Guarded {
    inner: Body,
    limits: BodyLimits,
    /// Made only when the body has to be waited for: most arrive with their headers.
    timer: Option<Pin<Box<Sleep>>>,
    last_frame: Instant,
    read: u64,
    wire: Arc<Tripwire>,
}

impl Guarded {
    fn new(inner: Body, limits: BodyLimits, wire: Arc<Tripwire>) -> Self {
        Self {
            inner,
            limits,
            timer: None,
            last_frame: Instant::now(),
            read: 0,
            wire,
        }
    }

    /// The next frame must come by this.
    fn due(&self) -> Instant {
        (self.last_frame + self.limits.idle).min(self.limits.deadline)
    }

    fn took(&mut self, frame: &Frame<Bytes>) -> Result<(), std::io::Error> {
        if let Some(data) = frame.data_ref() {
            self.read += data.len() as u64;
            if self.limits.cap.is_some_and(|cap| self.read > cap) {
                return Err(self.wire.trip(Trip::TooLarge));
            }
        }
        self.last_frame = Instant::now();
        let due = self.due();
        if let Some(timer) = self.timer.as_mut() {
            timer.as_mut().reset(due.into());
        }
        Ok(())
    }
}

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(
                this.took(&frame).map(|()| frame).map_err(axum::Error::new),
            )),
            Poll::Pending => {
                let due = this.due();
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due.into())));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(axum::Error::new(this.wire.trip(Trip::Timeout)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
