//! Channels in the admin API (SPEC §8, §9): status and bindings, link codes both ways, unlink;
//! and Slack's slash commands, which Slack signs instead of sending the admin token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::channels::Incoming;
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorCode};
use crate::model::{BindingId, ChannelKind};
use crate::state::AppState;

/// `GET /api/channels`
pub async fn list(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let bindings = app.channels.owner_bindings(&[])?;
    Ok(Json(json!({
        "channels": app.channels.statuses(),
        "bindings": bindings,
    })))
}

/// `POST /api/channels/link-codes`: a code for the owner to send to a bot as `/link CODE`.
pub async fn create_code(
    State(app): State<AppState>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (code, expires_at) = app.channels.issue_code()?;
    let body = json!({ "code": code, "expiresAt": rfc3339(expires_at) });
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkIn {
    code: String,
}

/// `POST /api/channels/link` with `{"code"}`: binds the chat a bot gave that code to.
pub async fn link(
    State(app): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input: LinkIn = super::parse_json(&body)?;
    if input.code.trim().is_empty() {
        return Err(ApiError::invalid_field("code", "must not be empty"));
    }
    let binding = app.channels.link_with_code(&input.code).await?;
    Ok((StatusCode::CREATED, Json(json!({ "binding": binding }))))
}

/// `DELETE /api/channels/bindings/:id`
pub async fn unlink(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if app.channels.unbind(&BindingId(id.clone())).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            ErrorCode::BindingNotFound,
            format!("no binding with id `{id}`"),
        ))
    }
}

/// A slash command as Slack posts it (form-encoded).
#[derive(Deserialize)]
struct SlackCommand {
    command: String,
    #[serde(default)]
    text: String,
    channel_id: String,
    #[serde(default)]
    channel_name: String,
    #[serde(default)]
    user_name: String,
}

/// `POST /api/channels/slack/commands`: `/link`, `/unlink`, `/status` from Slack, verified with
/// the signing secret. A command named otherwise (`/hookhub link CODE`) takes its first word as
/// the subcommand. The answer is shown only to the person who typed it.
pub async fn slack_command(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    if let Err(refused) = app.channels.verify_slack_command(&headers, &body) {
        return Err(match refused {
            None => ApiError::new(
                ErrorCode::ChannelNotConfigured,
                "Slack is not configured: set channels.slack.botToken and signingSecret",
            ),
            Some(e) => e.into(),
        });
    }
    let command: SlackCommand = serde_urlencoded::from_bytes(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::SlashCommandInvalid,
            format!("slash command: {e}"),
        )
    })?;
    let text = match command.command.trim_start_matches('/') {
        name @ ("link" | "unlink" | "status") => format!("/{name} {}", command.text),
        _ => format!("/{}", command.text.trim()),
    };
    let display_name = match (command.channel_name.as_str(), command.user_name.as_str()) {
        ("directmessage", user) if !user.is_empty() => format!("@{user}"),
        ("", _) => command.channel_id.clone(),
        (channel, _) => format!("#{channel}"),
    };
    let reply = app
        .channels
        .handle(Incoming {
            channel: ChannelKind::Slack,
            chat_id: command.channel_id,
            display_name,
            text,
        })
        .await
        .unwrap_or_else(|| "Commands: link, unlink, status.".into());
    Ok(Json(json!({ "response_type": "ephemeral", "text": reply })))
}
