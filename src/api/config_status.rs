//! `GET /api/config/status`: whether the config file as it is now is in force, and if not, why.

use axum::Json;
use axum::extract::State;

use crate::app::AppState;
use crate::hooks::reload::ConfigStatus;

/// The config file's path, when it was loaded and last read, and the error of a refused edit.
pub async fn get(State(app): State<AppState>) -> Json<ConfigStatus> {
    Json(app.config_status.get())
}
