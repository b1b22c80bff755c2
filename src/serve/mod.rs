//! The HTTP server loop, with the limits a public endpoint needs and `axum::serve` does not
//! offer, so that nobody without a secret can keep signed deliveries out (SPEC §11):
//!
//! - at most [`Limits::max_connections`] connections in all (the hub raises its open-file limit
//!   to serve them); further clients wait in the kernel's backlog instead of costing memory;
//! - one client address holds at most `server.maxConnectionsPerClient`: a direct client's
//!   connections are counted as they are accepted and refused past that share. A trusted
//!   proxy's connections carry many clients, so behind one each request is counted against
//!   the client the proxy names ([`guard`]);
//! - a request's headers must arrive within [`Limits::header_timeout`] of their first byte
//!   ([`watch`]), its body must keep moving ([`Limits::body_idle_timeout`]) and the whole
//!   request must arrive within `server.requestTimeout` ([`guard`]);
//! - a connection left idle (no request, no bytes either way) closes after `server.idleTimeout`
//!   ([`watch`]);
//! - headers are capped at [`Limits::max_header_bytes`] and 100 fields.
//!
//! Who the client is behind a trusted proxy is decided in one place, [`client`], which ingress
//! (rate limit, `ipAllowlist`) and the admin API (wrong-token counts, sign-in) ask as well.
//!
//! On shutdown the listener closes first, then requests in flight get
//! [`Limits::drain_timeout`] to finish. This module knows connections and bodies, never hooks.

pub mod client;
mod guard;
mod traced;
mod watch;

pub use guard::{RequestRules, admit, guard};
pub use traced::{RequestId, RequestLine, TraceRequests, Traced, carry_requests_without_spans};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::config::Config;
use crate::limit::ClientSlots;

/// Connection limits that are not in the config file: tests turn them down.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a request's headers may take from their first byte.
    pub header_timeout: Duration,
    /// How long a request body may send nothing before it is cut with 408.
    pub body_idle_timeout: Duration,
    pub max_header_bytes: usize,
    /// Connections open at once, in all; lowered to what the open-file limit allows.
    pub max_connections: usize,
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_connections: 8192,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// File descriptors kept back from connections: the database, journal and payload files,
/// outgoing requests, and the pipes of tools that run.
const RESERVED_FDS: u64 = 512;

/// The config in force, read at each accept so a reload applies to new connections.
pub type CurrentConfig = Arc<dyn Fn() -> Arc<Config> + Send + Sync>;

/// What the server loop needs besides the router.
#[derive(Clone)]
pub struct Server {
    pub limits: Limits,
    pub config: CurrentConfig,
    /// Connections and proxied requests per client, shared with [`guard`].
    pub slots: Arc<ClientSlots>,
}

/// Raises the soft open-file limit to the hard one and returns how many connections fit in
/// it beside the hub's own files, at most `wanted`.
pub fn connections_that_fit(wanted: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "could not raise the open-file limit");
        }
    }
    let open_files = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let fit = usize::try_from(open_files.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
    wanted.min(fit).max(1)
}

/// Serves `router` (the hub's whole service, `app::Hub`) on `listener` until `shutdown`
/// resolves, then drains.
pub async fn serve<S>(
    listener: TcpListener,
    router: S,
    shutdown: impl Future<Output = ()>,
    server: Server,
) where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let limits = server.limits;
    let total = connections_that_fit(limits.max_connections);
    tracing::info!(connections = total, "accepting connections");
    let slots = Arc::new(Semaphore::new(total));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let config = (server.config)();
        let server_config = &config.server;
        let client_slot = if server_config
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&peer.ip()))
        {
            // Counted per request instead, against the client the proxy names.
            None
        } else {
            match server
                .slots
                .try_take(peer.ip(), server_config.max_connections_per_client)
            {
                Some(taken) => Some(taken),
                None => {
                    refuse(stream);
                    continue;
                }
            }
        };
        // Answers go out as they are written, not held back for a later segment (Nagle).
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(watch::Activity::new());
        let (router, in_flight) = (router.clone(), activity.clone());
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let in_flight = in_flight.begin();
            let extensions = request.extensions_mut();
            extensions.insert(ConnectInfo::<SocketAddr>(peer));
            extensions.insert(guard::Arrival(in_flight.arrived_at()));
            let response = router.clone().oneshot(request.map(axum::body::Body::new));
            async move {
                let response = response.await;
                drop(in_flight);
                response
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            // `watch` times the headers and the idle connection instead.
            .header_read_timeout(None)
            .max_header_size(limits.max_header_bytes)
            .serve_connection(
                TokioIo::new(watch::Watched::new(stream, activity.clone())),
                service,
            );
        let connection = graceful.watch(connection);
        let idle_timeout = server_config.idle_timeout;
        tokio::spawn(async move {
            tokio::select! {
                // Errors here are clients going away or breaking the protocol: nothing to do.
                _ = connection => {}
                () = watch::overdue(&activity, limits.header_timeout, idle_timeout) => {}
            }
            drop((slot, client_slot));
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still open after the drain timeout were cut off");
    }
}

/// Turns away a connection from a client that holds its whole share already: a short 429 if
/// the socket takes it at once, then close. Nothing is read and nothing waits.
fn refuse(stream: TcpStream) {
    let code = crate::error::ErrorCode::TooManyConnections;
    let body = format!(
        r#"{{"error":{{"code":"{}","message":"this address has too many connections open to the hub"}}}}"#,
        code.as_str()
    );
    let status = code.status();
    let answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        body.len()
    );
    let _ = stream.try_write(answer.as_bytes());
    crate::telemetry::connection_refused();
}
