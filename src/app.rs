//! Wiring: [`run`] opens the store, builds the hook registry, starts the queue and serves the
//! router until `shutdown` resolves. Tests call it with a listener on port 0 and drive the real
//! app over HTTP.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

use crate::actions::ActionEnv;
use crate::alerts::{AlertDeps, Alerts};
use crate::api;
use crate::channels::Channels;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::hooks::reload::{ConfigStatusCell, Reloader, StartedWith};
use crate::hooks::{BuildError, RebuildError, Registry, Snapshot};
use crate::ingress;
use crate::queue::{Queue, QueueDeps};
use crate::retention::Retention;
use crate::serve::{Limits, TraceRequests, Traced};
use crate::state::admin::{AdminToken, AdminTokenCell};
use crate::state::{AppInner, AppState};
use crate::store::{Store, StoreError};

/// Why the hub could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("hooks are inconsistent:\n{0}")]
    Hooks(BuildError),
}

impl From<RebuildError> for RunError {
    fn from(e: RebuildError) -> Self {
        match e {
            RebuildError::Store(e) => Self::Store(e),
            RebuildError::Hooks(e) => Self::Hooks(e),
        }
    }
}

/// Knobs tests turn; production uses the defaults.
#[derive(Clone)]
pub struct RunOptions {
    pub clock: Arc<dyn Clock>,
    /// The config file to watch and reload; nothing is watched when `None`.
    pub config_path: Option<PathBuf>,
    /// A file that would be used instead of `config_path` at a restart (`./hooks.yaml` while
    /// the example stands in); the hub warns when it appears.
    pub preferred_config: Option<PathBuf>,
    /// `config_path` as the config given to [`run_with`] was loaded from, so that the reloader
    /// does not load it again at start.
    pub started_with: Option<StartedWith>,
    /// Connection and request limits.
    pub limits: Limits,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            config_path: None,
            preferred_config: None,
            started_with: None,
            limits: Limits::default(),
        }
    }
}

/// Runs the hub on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    run_with(config, listener, shutdown, RunOptions::default()).await
}

/// [`run`] with options.
pub async fn run_with(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut options: RunOptions,
) -> Result<(), RunError> {
    let data_dir = config
        .server
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_DATA_DIR));
    crate::telemetry::install();
    let store = open_store(&config.store, &data_dir)?;
    let admin = admin_token(&config, &*store)?;
    let config_token = config_token(&config).is_some();
    let workers = config.server.workers;
    let retention_config = config.server.retention.clone();
    let channels = Channels::new(&config.channels, store.clone(), options.clock.clone());
    let snapshot = Snapshot::load(Arc::new(config), &*store)?;
    let registry = Arc::new(Registry::new(snapshot));
    let alerts = Alerts::new(AlertDeps {
        store: store.clone(),
        registry: registry.clone(),
        channels: channels.clone(),
        clock: options.clock.clone(),
    })?;
    let retention = Retention::new(retention_config);
    let queue = Queue::new(QueueDeps {
        store: store.clone(),
        registry: registry.clone(),
        actions: ActionEnv {
            http: crate::outbound::http_client(),
            clock: options.clock.clone(),
            channels: Some(channels.clone()),
        },
        clock: options.clock.clone(),
        workers,
        alerts: alerts.clone(),
        retention: retention.clone(),
    });
    queue.start()?;
    let config_status = Arc::new(ConfigStatusCell::new(
        options.config_path.as_deref(),
        options.clock.now_ms(),
    ));
    let started_with = options.started_with.take();
    let reloader = options.config_path.clone().map(|path| {
        let (status, clock) = (config_status.clone(), options.clock.clone());
        Reloader::new(path, store.clone(), registry.clone(), clock, status)
            .preferring(options.preferred_config.clone())
            .started_with(started_with)
            .spawn()
    });
    let scheduler = crate::schedule::spawn(crate::schedule::SchedulerDeps {
        store: store.clone(),
        registry: registry.clone(),
        queue: queue.clone(),
        clock: options.clock.clone(),
    });
    let channel_tasks = channels.spawn();
    // On a shared database, other hubs' changes to the API hooks come into force here too.
    let hooks_followed = store
        .hook_changes()
        .map(|changes| tokio::spawn(registry.clone().follow(store.clone(), changes)));
    let storage_tasks = [
        tokio::spawn(recover_storage(store.clone())),
        crate::alerts::storage::spawn(crate::alerts::storage::StorageAlertDeps {
            store: store.clone(),
            registry: registry.clone(),
            channels: channels.clone(),
            clock: options.clock.clone(),
        }),
    ];
    let alert_task = alerts.spawn();
    let retention = tokio::spawn(retention.run(store.clone(), options.clock.clone()));
    let (stop_streams, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stop_streams.send(true);
    };
    let state = AppState::new(AppInner {
        store: store.clone(),
        registry,
        queue: queue.clone(),
        clock: options.clock,
        admin: AdminTokenCell::new(admin),
        attempts: Default::default(),
        channels,
        config_status,
        rejections: crate::state::rejections::Rejections::new(&store),
        limiter: Default::default(),
        client_slots: Arc::default(),
        limits: options.limits,
        sessions: crate::state::session::Sessions::new(&store),
        stopping,
    });
    let registry = state.registry.clone();
    let server = crate::serve::Server {
        limits: options.limits,
        config: current_config(&registry),
        slots: state.client_slots.clone(),
    };
    let resets = crate::token_reset::spawn(data_dir, state.clone(), config_token);
    crate::serve::serve(listener, router(state), shutdown, server).await;
    // Nothing new may start once the queue is stopping.
    scheduler.abort();
    resets.abort();
    if let Some(task) = hooks_followed {
        task.abort();
    }
    for task in channel_tasks {
        task.abort();
    }
    // Alerts still waiting are in the store and go after the next start.
    alert_task.abort();
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    let grace = registry.snapshot().config.server.shutdown_grace;
    queue.drain(grace).await;
    retention.abort();
    storage_tasks.iter().for_each(|t| t.abort());
    store.close()?;
    Ok(())
}

/// The config in force, for the server loop.
fn current_config(registry: &Arc<Registry>) -> crate::serve::CurrentConfig {
    let registry = registry.clone();
    Arc::new(move || registry.snapshot().config.clone())
}

/// Every route of the hub: deliveries go straight to ingress, everything else through the
/// router. Each request gets an `X-Request-Id` (the client's, or a new ULID), answers with it,
/// and is traced under it. A 5xx is logged where it is made, with its reason: a refused delivery
/// by `ingress::record`, an internal error by `error.rs`.
pub fn router(state: AppState) -> Traced<Hub> {
    let rules = crate::serve::RequestRules {
        config: current_config(&state.registry),
        slots: state.client_slots.clone(),
        body_idle_timeout: state.limits.body_idle_timeout,
    };
    let deliveries = Deliveries {
        app: state.clone(),
        rules: rules.clone(),
        // A delivery's whole handling, durable write included, is bounded too; the guard
        // bounds its arrival.
        handling: state.config().server.request_timeout,
    };
    let router = Router::new()
        .route("/healthz", get(health))
        .merge(api::router(state.clone()))
        .merge(api::public_router())
        .merge(crate::web::router(state.clone()))
        .fallback(crate::web::fallback)
        .with_state(state.clone())
        // One `layer` call for the whole stack: each call boxes every route again, and each
        // middleware clones the boxed service inside it for every request (BENCHMARKS.md).
        .layer(
            ServiceBuilder::new()
                // A request to `/api/webhooks/` with no hook path is answered here (404), and
                // recorded as a refused delivery like any other.
                .layer(axum::middleware::from_fn_with_state(state, ingress::record))
                .layer(axum::middleware::from_fn_with_state(
                    rules,
                    crate::serve::guard,
                )),
        );
    TraceRequests.layer(Hub { router, deliveries })
}

/// The hub's service (see [`router`]).
#[derive(Clone)]
pub struct Hub {
    router: Router,
    deliveries: Deliveries,
}

impl Service<Request> for Hub {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready, and so is ingress.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match request.uri().path().strip_prefix("/api/webhooks/") {
            Some(path) if !path.is_empty() => {
                let deliveries = self.deliveries.clone();
                Box::pin(async move { Ok(deliveries.take(request).await) })
            }
            _ => Box::pin(self.router.clone().oneshot(request)),
        }
    }
}

/// `/api/webhooks/<path>`, handled outside axum's router. It is the same work in the same order
/// as the router's middleware does: admitted and its body bounded (`serve::admit`, as
/// `serve::guard`), bounded by `server.requestTimeout` (408), `ingress::receive`, then recorded
/// (`ingress::Seen`, as `ingress::record`). Through the router, each delivery cloned the boxed
/// services of every layer and boxed each layer's future: ~24 of its 119 allocations
/// (BENCHMARKS.md).
#[derive(Clone)]
struct Deliveries {
    app: AppState,
    rules: crate::serve::RequestRules,
    handling: Duration,
}

impl Deliveries {
    /// The request's head stays here while the body is read and handled: the guard, ingress and
    /// the record borrow it, and nothing copies it.
    async fn take(self, request: Request) -> Response {
        let Some(&ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
            // `serve` sets it on every request; without it the client could not be named.
            return crate::error::ApiError::internal("the client's address is unknown")
                .into_response();
        };
        let (head, body) = request.into_parts();
        let response = match crate::serve::admit(&self.rules, peer, &head) {
            Err(refused) => refused.into_response(),
            Ok(admitted) => {
                let body = admitted.wrap(body);
                let deadline = ingress::Deadline::default();
                let receive =
                    std::pin::pin!(ingress::receive(&self.app, peer, &head, body, &deadline));
                let answer = match deadline.run(self.handling, receive).await {
                    Some(answer) => answer.into_response(),
                    // A bare 408, as tower-http's `TimeoutLayer` answered when the route ran
                    // under it; `ingress::record` describes it.
                    None => StatusCode::REQUEST_TIMEOUT.into_response(),
                };
                admitted.finish(answer)
            }
        };
        let seen = ingress::Seen {
            path: ingress::hook_path(&head.uri),
            method: &head.method,
            headers: &head.headers,
            peer,
        };
        seen.ended(&self.app, &response);
        response
    }
}

/// `GET /healthz`: 200 `ok`, or 503 with the storage's state while the data dir refuses
/// writes, so a load balancer or a monitor sees the hub cannot take deliveries.
async fn health(
    axum::extract::State(app): axum::extract::State<AppState>,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    let hooks = app.registry.snapshot().hook_count();
    let version = env!("CARGO_PKG_VERSION");
    match app.store.health().failure() {
        None => (
            StatusCode::OK,
            axum::Json(json!({"status": "ok", "version": version, "hooks": hooks})),
        ),
        Some(failure) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({
                "status": failure.code(),
                "version": version,
                "hooks": hooks,
                "storage": app.store.health().state(),
            })),
        ),
    }
}

/// How often a store whose disk refused a write checks whether it takes writes again.
const RECOVERY_CHECK: Duration = Duration::from_secs(1);

/// Reopens the store once its data dir takes writes again after a failure (see
/// `store::health`); idle while the store is healthy.
async fn recover_storage(store: Arc<Store>) {
    let mut changes = store.health().subscribe();
    loop {
        if store.health().failure().is_none() {
            if !changes.changed().await {
                return;
            }
            continue;
        }
        tokio::time::sleep(RECOVERY_CHECK).await;
        let reopening = store.clone();
        match tokio::task::spawn_blocking(move || reopening.recover()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not reopen the store; will try again"),
            Err(e) => tracing::warn!(error = %e, "the store's recovery task failed"),
        }
    }
}

/// The store `config` names: sled in `dir`, or PostgreSQL (`dir` then holds only this hub's
/// `secret.key`).
pub(crate) fn open_store(
    config: &crate::config::StoreConfig,
    dir: &std::path::Path,
) -> Result<Arc<Store>, StoreError> {
    match (config.backend, &config.url) {
        (crate::config::Backend::Postgres, Some(url)) => {
            Store::open_postgres(url, dir, config.lease)
        }
        _ => Store::open(dir),
    }
}

/// The config's `admin.token`, unless it is empty (which means "generate one").
fn config_token(config: &Config) -> Option<&str> {
    config.admin.token.as_deref().filter(|t| !t.is_empty())
}

/// The admin token in force: the config's, else the stored hash (of one generated at the first
/// start, or set by `hookhub admin reset-token`), else a new one, printed once.
fn admin_token(config: &Config, store: &Store) -> Result<AdminToken, StoreError> {
    if let Some(token) = config_token(config) {
        return Ok(AdminToken::from_token(token));
    }
    if let Some(token) = store
        .admin_token_hash()?
        .and_then(|h| AdminToken::from_hash(&h))
    {
        return Ok(token);
    }
    let token = AdminToken::generate();
    let admin = AdminToken::from_token(&token);
    if !store.first_admin_token_hash(admin.hash())? {
        // Another hub on a shared database generated one at the same moment, and printed it.
        tracing::info!("the admin token was generated by another hub starting at the same time");
        return admin_token(config, store);
    }
    store.flush_now()?;
    // Printed, not logged: logs never carry secrets, and this is the only time it is shown.
    println!(
        "hookhub: generated an admin token. It is shown only now; only its hash is stored.\n\n    {token}\n\n\
         Sign in to the web UI (the hub's address in a browser) with it, or send it as\n         `Authorization: Bearer <token>`. To choose your own, set admin.token in the config;\n         to get a new one, run `hookhub admin reset-token`."
    );
    Ok(admin)
}
