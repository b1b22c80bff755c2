//! Refused deliveries (SPEC §11): `GET /api/rejections` pages the whole ring across paths;
//! `GET /api/hooks/:id/rejections` shows the newest on the hook's path.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/rejections?limit=&cursor=`: newest first, `limit` 1-200 (50).
pub async fn list_all(
    State(app): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let cursor = q
        .cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<u64>().map_err(|_| {
                ApiError::invalid_field("cursor", format!("`{c}` is not a cursor from nextCursor"))
            })
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let page = app.rejections.page(limit, cursor)?;
    Ok(Json(json!({
        "rejections": page.rejections,
        "nextCursor": page.next_cursor.map(|c| c.to_string()),
    })))
}

/// `GET /api/hooks/:id/rejections`: the newest refusals on the hook's path.
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
        "rejections": app.rejections.of_path(path)?,
    })))
}
