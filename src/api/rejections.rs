//! `GET /api/hooks/:id/rejections`: the deliveries recently refused on the hook's path.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::ApiError;

pub async fn list(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = app.registry.snapshot();
    let hook = snapshot
        .hook(&id)
        .ok_or_else(|| super::hooks::not_found(&id))?;
    let path = &hook.hook.trigger_config.webhook_path;
    Ok(Json(json!({
        "path": path,
        "rejections": app.rejections.of_path(path),
    })))
}
