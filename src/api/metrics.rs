//! `GET /metrics`: Prometheus text, behind the admin token like the rest of the API
//! (Prometheus sends it with `authorization: { credentials: <token> }`).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

pub async fn get(State(app): State<AppState>) -> impl IntoResponse {
    let snapshot = app.registry.snapshot();
    let depths: Vec<(String, usize)> = snapshot
        .hooks()
        .map(|h| (h.hook.id.clone(), app.queue.queued(&h.hook.id)))
        .collect();
    let writable = app.store.health().failure().is_none();
    let text = crate::telemetry::render(&depths, app.queue.running(), writable);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
