//! Watching one connection for a request that starts and never finishes its headers.
//!
//! hyper's own header timer starts as soon as a connection waits for a request and is not
//! reset by the first byte, so it can only be one of two limits; it serves as the keep-alive
//! idle timeout (`server.idleTimeout`), and this module adds the other: once a request's first
//! byte has arrived, its headers have [`super::Limits::header_timeout`] to follow. The socket
//! wrapper notes when reading starts; the service marks the time a request is in the
//! router, when the body and the handler are governed by [`super::guard`] instead.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
}

impl Activity {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            request_start: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64 + 1
    }

    /// Bytes were read: between requests, that is the next request beginning.
    fn read_some(&self) {
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
    }
}

/// Resolves once the connection's request headers are overdue; never otherwise. Checked a
/// few times per `limit`, so a connection is cut at most a quarter of it late.
pub async fn headers_overdue(activity: &Activity, limit: Duration) {
    let tick = (limit / 4).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(tick).await;
        if activity.headers_overdue(limit) {
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
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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
        assert!(!activity.headers_overdue(limit), "idle is hyper's to time");
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
}
