//! The admin token: Bearer authentication for `/api/*` (except webhooks and health), or a web
//! UI session with its CSRF token.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::ApiError;
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

/// Middleware: lets the request through with `Authorization: Bearer <admin token>`, or with a
/// signed-in browser's session cookie. A cookie is sent by the browser whatever page caused
/// the request, so with a cookie every state-changing method must also carry the session's
/// CSRF token, which only the hub's own page can read.
pub async fn require_admin(
    State(app): State<AppState>,
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
        return match presented {
            Some(token) if app.admin.matches(token) => Ok(next.run(request).await),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the admin token is wrong",
            )),
        };
    }
    let Some((_, session)) = crate::web::signin::current(&app, headers) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
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
