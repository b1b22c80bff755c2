//! The web UI (SPEC §10): the static page from `web/`, embedded in the binary, the browser's
//! sign-in with a session cookie, and the live execution log over Server-Sent Events.
//!
//! The page is a client of the same admin API as everyone else; this module adds only what a
//! browser needs on top of it. It must never widen what the API allows: a session is the admin
//! token by other means, with a CSRF token required for anything that changes state.

mod assets;
pub mod signin;
mod stream;

use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The UI's routes: sign-in (open) and the live streams (behind the admin check).
pub fn router(state: AppState) -> Router<AppState> {
    let streams = Router::new()
        .route("/api/executions/stream", get(stream::all))
        .route("/api/hooks/{id}/executions/stream", get(stream::of_hook))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::api::auth::require_admin,
        ));
    Router::new()
        .route(
            "/api/session",
            get(signin::status)
                .post(signin::sign_in)
                .delete(signin::sign_out),
        )
        .merge(streams)
}

/// Everything no route took: the UI for GET and HEAD outside `/api/`, a JSON 404 otherwise.
pub async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    let is_page = matches!(*request.method(), Method::GET | Method::HEAD)
        && !path.starts_with("/api/")
        && path != "/api";
    if is_page {
        return assets::serve(path, request.headers());
    }
    ApiError::new(
        ErrorCode::NotFound,
        "no such route; webhooks go to /api/webhooks/<path>",
    )
    .into_response()
}
