//! Watching one connection for a request that starts and never finishes its headers, and for
//! a connection left idle.
//!
//! Once a request's first byte has arrived, its headers have
//! [`super::Limits::header_timeout`] to follow. A connection with no request in the router,
//! none arriving and no bytes moving either way closes after `server.idleTimeout`. The socket
//! wrapper notes when bytes move and when reading starts; the service marks the time a request
//! is in the router, when the body and the handler are governed by [`super::guard`] instead.
//!
//! One task a connection looks a few times per limit ([`overdue`]). hyper's own header timer
//! could time the idle connection, but hyper makes it anew for every request: a timer
//! registered in tokio's wheel and removed again per request, ~3% of a saturated hub's CPU
//! (BENCHMARKS.md).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What one connection is doing, shared by its socket and its service.
#[derive(Debug)]
pub struct Activity {
    origin: Instant,
    /// Milliseconds after `origin` (plus one, so 0 means "none") when the first byte of the
    /// request now arriving was read.
    request_start: AtomicU64,
    /// Requests in the router now.
    in_flight: AtomicUsize,
    /// Bytes moved or a request ended since the watch last looked.
    moved: AtomicBool,
}

impl Activity {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            request_start: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            moved: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64 + 1
    }

    /// Bytes were read: between requests, that is the next request beginning.
    fn read_some(&self) {
        self.moved.store(true, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ = self.request_start.compare_exchange(
                0,
                self.now(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// A request's headers have arrived and it goes to the router, until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let started = self.request_start.swap(0, Ordering::Relaxed);
        let arrived_at = match started {
            0 => Instant::now(),
            ms => self.origin + Duration::from_millis(ms - 1),
        };
        InFlight {
            activity: self.clone(),
            arrived_at,
        }
    }

    /// False when the connection did something since the last call: a request is in the
    /// router or arriving, or bytes moved.
    fn quiet(&self) -> bool {
        let moved = self.moved.swap(false, Ordering::Relaxed);
        !moved
            && self.in_flight.load(Ordering::Relaxed) == 0
            && self.request_start.load(Ordering::Relaxed) == 0
    }

    /// True when a request began arriving more than `limit` ago and has not reached the
    /// router.
    fn headers_overdue(&self, limit: Duration) -> bool {
        let started = self.request_start.load(Ordering::Relaxed);
        self.in_flight.load(Ordering::Relaxed) == 0
            && started != 0
            && self.now().saturating_sub(started) > limit.as_millis() as u64
    }
}

/// A request in the router; the connection counts as busy until it drops.
#[derive(Debug)]
pub struct InFlight {
    activity: Arc<Activity>,
    arrived_at: Instant,
}

impl InFlight {
    /// When the request's first byte arrived.
    pub fn arrived_at(&self) -> Instant {
        self.arrived_at
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.activity.moved.store(true, Ordering::Relaxed);
    }
}

/// Resolves once the connection is to be cut: its request's headers took longer than
/// `headers`, or it was quiet for `idle`; never otherwise. Looked at a few times per the
/// shorter limit, so a connection is cut at most a quarter of it late.
pub async fn overdue(activity: &Activity, headers: Duration, idle: Duration) {
    let tick = (headers.min(idle) / 4).max(Duration::from_millis(10));
    let mut quiet = Duration::ZERO;
    loop {
        tokio::time::sleep(tick).await;
        if activity.headers_overdue(headers) {
            return;
        }
        quiet = if activity.quiet() {
            quiet + tick
        } else {
            Duration::ZERO
        };
        if quiet >= idle {
            return;
        }
    }
}

/// A socket that tells its [`Activity`] when bytes arrive.
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }

    /// An answer going out slowly is not an idle connection.
    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity.moved.store(true, Ordering::Relaxed);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_started_request_that_has_not_reached_the_router_is_overdue() {
        let activity = Arc::new(Activity::new());
        let limit = Duration::from_millis(5);
        std::thread::sleep(Duration::from_millis(10));
        assert!(!activity.headers_overdue(limit), "idle is timed as quiet");
        activity.read_some();
        std::thread::sleep(Duration::from_millis(10));
        assert!(activity.headers_overdue(limit));
        let in_flight = activity.begin();
        assert!(in_flight.arrived_at().elapsed() >= Duration::from_millis(10));
        assert!(
            !activity.headers_overdue(limit),
            "the body is the guard's to time"
        );
        activity.read_some();
        drop(in_flight);
        assert!(
            !activity.headers_overdue(limit),
            "bytes read mid-request start nothing"
        );
    }

    #[test]
    fn a_connection_is_quiet_when_nothing_happened_since_the_last_look() {
        let activity = Arc::new(Activity::new());
        assert!(activity.quiet(), "a new connection that sends nothing");
        activity.read_some();
        assert!(!activity.quiet(), "bytes arrived");
        assert!(!activity.quiet(), "a request is arriving");
        let in_flight = activity.begin();
        assert!(!activity.quiet(), "a request is in the router");
        drop(in_flight);
        assert!(!activity.quiet(), "a request ended since the last look");
        assert!(activity.quiet());
        activity.moved.store(true, Ordering::Relaxed);
        assert!(!activity.quiet(), "an answer went out");
        assert!(activity.quiet());
    }
}
