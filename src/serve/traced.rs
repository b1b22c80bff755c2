//! Every request's id and span, as one layer outside everything else: a request keeps the
//! `X-Request-Id` it came with or gets a new ULID, the handlers find it as a [`RequestId`] among
//! the request's extensions, the answer carries the same id, and every log line written while
//! the request is handled is in its `request` span (id, method, path).
//!
//! A new id is not added to the request's headers: hyper sizes a request's header map to the
//! headers it came with, so one more made the map grow and rehash (~1,100 instructions a
//! delivery in callgrind, about twice the extension's cost), and the execution's stored headers
//! are now only what the sender sent.
//!
//! Where the log is plain text with levels by target (the usual set-up, and the one a busy hub
//! runs), the request is not a tracing span but a task-local [`RequestLine`], which the log's
//! line format writes where the span's name and fields were, byte for byte
//! (`cli::logs`). Making the span, formatting its fields, entering it at every poll and closing
//! it cost a delivery ~3,400 instructions whether or not a line was written in it, and ~4% of
//! the hub's CPU at saturation (BENCHMARKS.md); the task-local costs a swap per poll. Coloured
//! text, JSON (whose lines carry the span as an object) and span directives in `RUST_LOG` keep
//! the span.
//!
//! One small layer instead of tower-http's three (`SetRequestId`, `Trace`, `PropagateRequestId`),
//! which cost a delivery ~15,700 instructions for the same, with callbacks, a classifier and a
//! wrapped response body the hub does not use; with the span, this one cost ~12,000
//! (BENCHMARKS.md).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{HeaderName, HeaderValue, Method, Request, Response, Uri};
use tower::{Layer, Service};
use tracing::{Instrument, Level};

/// The header a request's id travels in, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request's id (see the module doc).
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

/// The layer (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceRequests;

impl<S> Layer<S> for TraceRequests {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced { inner }
    }
}

/// A service whose requests are traced (see the module doc).
#[derive(Debug, Clone)]
pub struct Traced<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for Traced<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    R: 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = match request.headers().get(X_REQUEST_ID) {
            Some(id) => id.clone(),
            None => new_id(),
        };
        request.extensions_mut().insert(RequestId(id.clone()));
        // The clock is read only for the line that shows the time.
        let started = tracing::enabled!(Level::DEBUG).then(Instant::now);
        if SPANLESS.load(Ordering::Relaxed) {
            let line = RequestLine {
                id: id.clone(),
                method: request.method().clone(),
                uri: request.uri().clone(),
            };
            // Called outside the scope, which would take a second copy of the line: the hub's
            // `call` only picks the handler, whose work (and any line it writes) is done when
            // its future is polled, in the scope.
            let answer = self.inner.call(request);
            return Box::pin(REQUEST.scope(line, answered(answer, id, started)));
        }
        let span = tracing::info_span!(
            "request",
            id = id.to_str().unwrap_or_default(),
            method = %request.method(),
            path = request.uri().path()
        );
        let answer = span.in_scope(|| self.inner.call(request));
        Box::pin(answered(answer, id, started).instrument(span))
    }
}

/// The answer, with the request's id, and its debug line when `started` says when it came.
async fn answered<R, E>(
    answer: impl Future<Output = Result<Response<R>, E>>,
    id: HeaderValue,
    started: Option<Instant>,
) -> Result<Response<R>, E> {
    let mut response = answer.await?;
    if let Some(started) = started {
        tracing::debug!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "request answered"
        );
    }
    response.headers_mut().entry(X_REQUEST_ID).or_insert(id);
    Ok(response)
}

/// Whether requests are carried as a [`RequestLine`] instead of a span (see the module doc).
static SPANLESS: AtomicBool = AtomicBool::new(false);

/// Carries requests as a [`RequestLine`] instead of a span from now on: for a log whose lines
/// write [`RequestLine::current`] where the span would be.
pub fn carry_requests_without_spans() {
    SPANLESS.store(true, Ordering::Relaxed);
}

tokio::task_local! {
    static REQUEST: RequestLine;
}

/// The request a task is handling, as its log lines show it (see the module doc).
#[derive(Debug, Clone)]
pub struct RequestLine {
    id: HeaderValue,
    method: Method,
    uri: Uri,
}

impl RequestLine {
    /// The request the current task is handling, when requests are carried this way.
    pub fn current() -> Option<Self> {
        REQUEST.try_with(Self::clone).ok()
    }

    /// A request's line, for tests of the log.
    #[cfg(test)]
    pub fn new(id: &'static str, method: Method, uri: &'static str) -> Self {
        Self {
            id: HeaderValue::from_static(id),
            method,
            uri: Uri::from_static(uri),
        }
    }

    /// Runs `f` with `self` current, as a request's handling does.
    #[cfg(test)]
    pub fn in_scope<R>(self, f: impl FnOnce() -> R) -> R {
        REQUEST.sync_scope(self, f)
    }
}

/// What the `request` span showed in a plain text line: its name and its fields, as
/// tracing-subscriber writes a span (`request{id="…" method=POST path="/…"}:`).
impl fmt::Display for RequestLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A `str` field is written as its `Debug`, a `%` field as its `Display`.
        write!(
            f,
            "request{{id={:?} method={} path={:?}}}:",
            self.id.to_str().unwrap_or_default(),
            self.method,
            self.uri.path()
        )
    }
}

/// A new request id: a ULID, 26 characters, sortable by when the request came.
fn new_id() -> HeaderValue {
    let mut text = [0; ulid::ULID_LEN];
    let id = ulid::Ulid::new().array_to_str(&mut text);
    HeaderValue::from_str(id).expect("a ULID is a valid header value")
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::ServiceExt;

    use super::*;

    /// Answers with the id the request carried when it got here, as its body.
    async fn seen(request: Request<()>) -> Result<Response<String>, Infallible> {
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(|RequestId(v)| v.to_str().unwrap().to_string());
        Ok(Response::new(id.unwrap_or_default()))
    }

    async fn call(request: Request<()>) -> Response<String> {
        TraceRequests
            .layer(tower::service_fn(seen))
            .oneshot(request)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_request_without_an_id_gets_a_ulid_it_is_handled_and_answered_with() {
        let response = call(Request::new(())).await;
        let id = response.headers()[X_REQUEST_ID]
            .to_str()
            .unwrap()
            .to_string();
        assert!(ulid::Ulid::from_string(&id).is_ok(), "not a ULID: {id}");
        assert_eq!(response.body(), &id, "the handler saw another id");
    }

    #[tokio::test]
    async fn a_request_keeps_the_id_it_came_with() {
        let request = Request::builder()
            .header("X-Request-Id", "cf-ray-1234")
            .body(())
            .unwrap();
        let response = call(request).await;
        assert_eq!(response.headers()[X_REQUEST_ID], "cf-ray-1234");
        assert_eq!(response.body(), "cf-ray-1234");
    }
}
