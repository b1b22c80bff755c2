//! Live execution log over Server-Sent Events. Each event is an `execution` change (the JSON of
//! [`crate::store::ExecutionChange`]); a `ready` event says the subscription is in place, and
//! a `resync` event tells a listener that fell behind to read the log again. Streams end when
//! the hub begins to stop, so they never hold up a graceful shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::{broadcast, watch};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::ExecutionChange;

/// `GET /api/executions/stream`: changes to every hook's executions.
pub async fn all(
    State(app): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    stream(&app, None)
}

/// `GET /api/hooks/:id/executions/stream`: changes to one hook's executions.
pub async fn of_hook(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if app.registry.snapshot().hook(&id).is_none() {
        return Err(ApiError::new(
            ErrorCode::HookNotFound,
            format!("no hook with id `{id}`"),
        ));
    }
    Ok(stream(&app, Some(id)))
}

struct Listener {
    changes: broadcast::Receiver<Arc<ExecutionChange>>,
    stopping: watch::Receiver<bool>,
    hook: Option<String>,
    greeted: bool,
}

fn stream(
    app: &AppState,
    hook: Option<String>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let listener = Listener {
        // Subscribed before the answer starts: nothing after `ready` is missed.
        changes: app.store.subscribe_changes(),
        stopping: app.stopping.clone(),
        hook,
        greeted: false,
    };
    let events = futures_util::stream::unfold(listener, |mut l| async move {
        let event = next_event(&mut l).await?;
        Some((Ok(event), l))
    });
    // Comments every 15 s keep proxies from closing a quiet stream, and more often when the
    // hub's own idle limit is shorter: a stream that sends nothing is an idle connection.
    let idle = app.registry.snapshot().config.server.idle_timeout;
    let every = (idle / 2).clamp(Duration::from_millis(100), Duration::from_secs(15));
    Sse::new(events).keep_alive(KeepAlive::new().interval(every))
}

/// The next event for this listener, or `None` when the stream should end.
async fn next_event(l: &mut Listener) -> Option<Event> {
    if !l.greeted {
        l.greeted = true;
        return Some(Event::default().event("ready").data("{}"));
    }
    loop {
        let received = tokio::select! {
            _ = l.stopping.wait_for(|stopping| *stopping) => return None,
            received = l.changes.recv() => received,
        };
        match received {
            Ok(change) if l.hook.as_ref().is_none_or(|h| *h == change.hook_id) => {
                return Some(
                    Event::default()
                        .event("execution")
                        .data(change.json.as_str()),
                );
            }
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                return Some(Event::default().event("resync").data("{}"));
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}
