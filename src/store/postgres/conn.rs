//! Connections to PostgreSQL and where their work runs. The connections live on the backend's
//! own small runtime (one thread, `hookhub-pg`), so the store's blocking operations can wait
//! for a query from any thread — a worker of the hub's runtime, a current-thread test runtime,
//! a `Drop` — without the wait holding up the IO it waits for. Every query is spawned there;
//! blocking callers wait on a channel (inside `block_in_place` on a multi-threaded runtime),
//! async callers await the task.
//!
//! A small pool of clients: tokio-postgres pipelines the queries of many callers on one
//! connection, so plain statements share them freely; a transaction takes one client for
//! itself. A client whose connection closed is replaced on its next use.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{AsyncMessage, Client, Config};

use crate::store::StoreError;

/// Clients in the pool.
const CLIENTS: usize = 4;
/// How long a new connection may take, unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a blocking caller waits for its query before giving up on the server.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// The backend's runtime and connections. Cheap to clone.
#[derive(Clone)]
pub(super) struct Pg {
    inner: Arc<Inner>,
}

struct Inner {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    config: Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    clients: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
}

impl Pg {
    /// Parses `url` and starts the runtime; connects lazily, on first use.
    pub(super) fn new(url: &str) -> Result<Self, StoreError> {
        let mut config = Config::from_str(url).map_err(|e| StoreError::Open {
            path: redacted(url),
            reason: format!("not a PostgreSQL URL: {e}"),
        })?;
        // A server that is gone must not hold a delivery or a worker for long.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives_idle(Duration::from_secs(30));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hookhub-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Open {
                path: redacted(url),
                reason: format!("cannot start the database's thread: {e}"),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                runtime: Some(runtime),
                config,
                tls: tls(),
                clients: (0..CLIENTS).map(|_| Mutex::new(None)).collect(),
                next: AtomicUsize::new(0),
            }),
        })
    }

    /// Runs `work` on the backend's runtime and waits for it, blocking this thread.
    pub(super) fn block<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.inner.runtime().spawn(async move {
            let _ = tx.send(work.await);
        });
        let wait = move || rx.recv_timeout(ANSWER_WITHIN);
        let received = match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        received.unwrap_or_else(|e| {
            Err(StoreError::Unreachable(match e {
                std::sync::mpsc::RecvTimeoutError::Timeout => {
                    format!("no answer within {} s", ANSWER_WITHIN.as_secs())
                }
                std::sync::mpsc::RecvTimeoutError::Disconnected => {
                    "the database's thread stopped".into()
                }
            }))
        })
    }

    /// Runs `work` on the backend's runtime; the returned future waits for it.
    pub(super) fn spawn<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'static {
        let task = self.inner.runtime().spawn(work);
        async move {
            task.await
                .unwrap_or_else(|e| Err(StoreError::Db(format!("database task failed: {e}"))))
        }
    }

    /// Spawns a task on the backend's runtime that lives as long as it.
    pub(super) fn spawn_forever(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.inner.runtime().spawn(work);
    }

    /// A client of the pool to share (queries pipeline on it). Must be called on the backend's
    /// runtime.
    pub(super) async fn client(&self) -> Result<ClientGuard<'_>, StoreError> {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed) % CLIENTS;
        self.lock(n).await
    }

    /// A client for a transaction: the first free one, else the next in turn.
    pub(super) async fn exclusive(&self) -> Result<ClientGuard<'_>, StoreError> {
        for slot in &self.inner.clients {
            if let Ok(guard) = slot.try_lock() {
                return self.ready(guard).await;
            }
        }
        self.client().await
    }

    async fn lock(&self, n: usize) -> Result<ClientGuard<'_>, StoreError> {
        let guard = self.inner.clients[n].lock().await;
        self.ready(guard).await
    }

    async fn ready<'a>(
        &self,
        mut guard: MutexGuard<'a, Option<Client>>,
    ) -> Result<ClientGuard<'a>, StoreError> {
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.connect(None).await?);
        }
        Ok(ClientGuard(guard))
    }

    /// A new connection, its IO driven on the backend's runtime. With `notices`, the
    /// server's notifications on it are sent there.
    pub(super) async fn connect(
        &self,
        notices: Option<tokio::sync::mpsc::UnboundedSender<tokio_postgres::Notification>>,
    ) -> Result<Client, StoreError> {
        let (client, mut connection) = self
            .inner
            .config
            .connect(self.inner.tls.clone())
            .await
            .map_err(|e| StoreError::Unreachable(format!("cannot connect to PostgreSQL: {e}")))?;
        self.inner.runtime().spawn(async move {
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if let Some(tx) = &notices {
                            let _ = tx.send(n);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "PostgreSQL connection closed");
                        break;
                    }
                }
            }
        });
        Ok(client)
    }
}

impl Inner {
    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The store may be dropped on the hub's runtime, where waiting for threads is refused.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A client held from the pool.
pub(super) struct ClientGuard<'a>(MutexGuard<'a, Option<Client>>);

impl std::ops::Deref for ClientGuard<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.0.as_ref().expect("a ready client")
    }
}

impl std::ops::DerefMut for ClientGuard<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.0.as_mut().expect("a ready client")
    }
}

/// TLS by rustls with webpki's roots, used when the server offers it (`sslmode=prefer`, the
/// default) or the URL requires it (`sslmode=require`).
fn tls() -> tokio_postgres_rustls::MakeRustlsConnect {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// A URL for messages: its password replaced.
pub(super) fn redacted(url: &str) -> String {
    crate::model::redact::url(url).into_owned()
}
