//! The admin API (SPEC §8): hooks and their executions over JSON, behind the admin token.
//! Handlers are thin: they check input, call the store, registry or queue, and shape output.

pub mod auth;
mod channels;
mod config_status;
mod executions;
mod hook_yaml;
mod hooks;
mod metrics;
mod rejections;
mod rotate;
mod tools;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::error::ApiError;
use crate::state::AppState;

/// The routes under `/api` that need the admin token.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/hooks", get(hooks::list).post(hooks::create))
        .route(
            "/api/hooks/{id}",
            get(hooks::get)
                .put(hooks::replace)
                .patch(hooks::patch)
                .delete(hooks::delete),
        )
        .route("/api/hooks/{id}/rotate-secret", post(rotate::rotate_secret))
        .route("/api/hooks/{id}/rotate-path", post(rotate::rotate_path))
        .route("/api/hooks/{id}/executions", get(executions::list))
        .route("/api/hooks/{id}/rejections", get(rejections::list))
        .route("/api/rejections", get(rejections::list_all))
        .route("/api/hooks/{id}/test", post(executions::test))
        .route(
            "/api/hooks/{id}/replay-failed",
            post(executions::replay_failed),
        )
        .route("/api/tools", get(tools::list))
        .route("/api/channels", get(channels::list))
        .route("/api/channels/link-codes", post(channels::create_code))
        .route("/api/channels/link", post(channels::link))
        .route("/api/channels/bindings/{id}", delete(channels::unlink))
        .route("/api/config/status", get(config_status::get))
        .route("/metrics", get(metrics::get))
        .route("/api/executions/{id}", get(executions::get))
        .route("/api/executions/{id}/replay", post(executions::replay))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            auth::require_admin,
        ))
}

/// Routes that prove who sent them some other way than the admin token.
pub fn public_router() -> Router<AppState> {
    Router::new().route(
        "/api/channels/slack/commands",
        post(channels::slack_command),
    )
}

/// Reads a JSON request body, naming the field at fault when it does not fit.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        ApiError::invalid_field(field, e.into_inner().to_string())
    })
}
