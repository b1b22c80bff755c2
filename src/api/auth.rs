//! The admin token: Bearer authentication for `/api/*` (except webhooks and health), or a web
//! UI session with its CSRF token. Wrong tokens are counted per client address
//! ([`crate::state::attempts`]); the token in force can be replaced while the hub runs
//! (`hookhub admin reset-token`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{ApiError, ErrorCode};
use crate::serve::client;
use crate::state::AppState;
use crate::state::session::Session;

/// The cookie that carries the session id.
pub const COOKIE: &str = "hookhub_session";
/// The header a signed-in page sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Checks a presented admin token (Bearer or sign-in) from `peer`: `Ok(true)` when it is the
/// one in force, `Ok(false)` when it is wrong (and counted against the client), 429
/// `too_many_attempts` while the client has failed too often, whatever it presents now.
pub fn check_token(
    app: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    presented: Option<&str>,
) -> Result<bool, ApiError> {
    let client = client::address(peer.ip(), headers, &app.config().server);
    let now = app.clock.now_ms();
    let matched = app
        .attempts
        .attempt(client, now, || {
            presented.is_some_and(|token| app.admin.matches(token))
        })
        .map_err(|wait| {
            ApiError::new(
                ErrorCode::TooManyAttempts,
                format!("too many wrong admin tokens from this address; try again in {wait} s"),
            )
            .with_retry_after(wait)
        })?;
    if !matched {
        tracing::warn!(%client, "a wrong admin token");
    }
    Ok(matched)
}

/// Middleware: lets the request through with `Authorization: Bearer <admin token>`, or with a
/// signed-in browser's session cookie. A cookie is sent by the browser whatever page caused
/// the request, so with a cookie every state-changing method must also carry the session's
/// CSRF token, which only the hub's own page can read.
///
/// Any `Authorization` header is an attempt at the token, counted when wrong. A session cookie
/// is not: its id is 256 random bits, and a browser holding a stale one is no guesser.
pub async fn require_admin(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        let presented = authorization
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        return if check_token(&app, peer, headers, presented)? {
            Ok(next.run(request).await)
        } else {
            Err(ApiError::new(
                ErrorCode::Unauthorized,
                "the admin token is wrong",
            ))
        };
    }
    let Some((_, session)) = current(&app, headers) else {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "send the admin token as Authorization: Bearer <token>, or sign in to the web UI",
        ));
    };
    if !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        check_csrf(&session, headers)?;
    }
    Ok(next.run(request).await)
}

/// The session this request's cookie names, if it is live (and now marked as used).
pub fn current<'h>(app: &AppState, headers: &'h HeaderMap) -> Option<(&'h str, Session)> {
    let id = cookie(headers, COOKIE)?;
    let session = app.sessions.touch(id, app.clock.now_ms())?;
    Some((id, session))
}

/// 403 unless the request carries the session's CSRF token.
pub fn check_csrf(session: &Session, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match presented {
        Some(token) if session.csrf_matches(token) => Ok(()),
        _ => Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "a signed-in browser must send its session's X-CSRF-Token with this request",
        )),
    }
}

/// The value of the cookie `name`.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}
