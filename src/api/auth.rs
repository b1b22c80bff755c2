//! The admin token: Bearer authentication for `/api/*` (except webhooks and health), or a web
//! UI session with its CSRF token. Wrong tokens are counted per client address
//! ([`super::attempts`]); the token in force can be replaced while the hub runs
//! (`hookhub admin reset-token`).

use std::net::SocketAddr;
use std::sync::RwLock;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::ingress::client;
use crate::verify::constant_time_eq;

/// The admin token's SHA-256; the token itself is never kept.
#[derive(Debug, Clone)]
pub struct AdminToken {
    hash: [u8; 32],
}

impl AdminToken {
    pub fn from_token(token: &str) -> Self {
        Self {
            hash: Sha256::digest(token.as_bytes()).into(),
        }
    }

    pub fn from_hash(hash: &[u8]) -> Option<Self> {
        Some(Self {
            hash: hash.try_into().ok()?,
        })
    }

    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// Constant-time check of a presented token.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        constant_time_eq(&digest, &self.hash)
    }

    /// A new random token to show once: `hh_` and 32 random bytes, URL-safe base64.
    pub fn generate() -> String {
        use base64::Engine as _;
        let bytes: [u8; 32] = rand::random();
        format!(
            "hh_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    }
}

/// The admin token in force. A reset swaps it while requests are being checked against it.
#[derive(Debug)]
pub struct AdminTokenCell(RwLock<AdminToken>);

impl AdminTokenCell {
    pub fn new(token: AdminToken) -> Self {
        Self(RwLock::new(token))
    }

    /// Constant-time check of a presented token against the one in force.
    pub fn matches(&self, presented: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .matches(presented)
    }

    /// Puts `token` in force; from now on only it matches.
    pub fn replace(&self, token: AdminToken) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = token;
    }
}

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
    let Some((_, session)) = crate::web::signin::current(&app, headers) else {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "send the admin token as Authorization: Bearer <token>, or sign in to the web UI",
        ));
    };
    if !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        crate::web::signin::check_csrf(&session, headers)?;
    }
    Ok(next.run(request).await)
}
