//! `/api/session`: sign in with the admin token (a session cookie in return), ask whether the
//! browser is signed in, sign out.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::api::auth::{COOKIE, check_csrf, current};
use crate::error::{ApiError, ErrorCode};
use crate::serve::client;
use crate::state::AppState;
use crate::state::session::Session;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

/// `POST /api/session` `{"token"}`. A wrong token counts against the client like a wrong
/// Bearer token ([`crate::state::attempts`]).
pub async fn sign_in(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: SignIn = crate::api::parse_json(&body)?;
    if !crate::api::auth::check_token(&app, peer, &headers, Some(input.token.trim()))? {
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "that is not the admin token",
        ));
    }
    let (id, session) = app.sessions.create(app.clock.now_ms())?;
    let trusted = &app.config().server.trusted_proxies;
    let secure = client::via_https(peer.ip(), &headers, trusted);
    let mut response = Json(signed_in(&session)).into_response();
    set_cookie(&mut response, &format!("{COOKIE}={id}"), secure);
    Ok(response)
}

/// `GET /api/session`: `{"signedIn": false}` or the session's CSRF token and expiry. Answered
/// 200 either way: not being signed in is the page's normal first state, not an error.
pub async fn status(State(app): State<AppState>, headers: HeaderMap) -> Json<serde_json::Value> {
    match current(&app, &headers) {
        Some((_, session)) => Json(signed_in(&session)),
        None => Json(json!({"signedIn": false})),
    }
}

/// `DELETE /api/session`: ends the session (with its CSRF token, so another site cannot sign
/// the owner out) and clears the cookie.
pub async fn sign_out(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some((id, session)) = current(&app, &headers) {
        check_csrf(&session, &headers)?;
        app.sessions.remove(id)?;
    }
    let trusted = &app.config().server.trusted_proxies;
    let secure = client::via_https(peer.ip(), &headers, trusted);
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_cookie(&mut response, &format!("{COOKIE}=; Max-Age=0"), secure);
    Ok(response)
}

fn signed_in(session: &Session) -> serde_json::Value {
    json!({
        "signedIn": true,
        "csrfToken": session.csrf_token,
        "expiresAt": crate::clock::rfc3339(session.expires_at()),
    })
}

/// Session cookies: never readable by scripts, never sent by other sites' requests, and
/// without an expiry, so closing the browser ends them too.
fn set_cookie(response: &mut Response, pair: &str, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{pair}; Path=/; HttpOnly; SameSite=Strict{secure}");
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
