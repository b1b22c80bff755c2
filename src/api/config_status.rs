//! `GET /api/config/status`: whether the config file as it is now is in force, and if not, why.

use axum::Json;
use axum::extract::State;

use crate::state::AppState;

/// The config file's path, when it was loaded and last read, the error of a refused edit, and
/// whether the data dir takes writes (`storage`, for the UI's banner).
pub async fn get(State(app): State<AppState>) -> Json<serde_json::Value> {
    let mut status = serde_json::to_value(app.config_status.get()).unwrap_or_default();
    status["storage"] = serde_json::json!(app.store.health().state());
    Json(status)
}
