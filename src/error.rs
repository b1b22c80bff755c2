//! The one place where failures become HTTP answers. Every error body is
//! `{"error": {"code": "…", "message": "…"}}` (plus `field` when one input field is to blame).
//! Deliberate errors carry their own message; anything else is logged and answered with an
//! opaque 500, so internals never reach a client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The input field at fault, such as `triggerConfig.webhookPath`.
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422 naming the field that failed validation.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Self {
            message: if field.is_empty() {
                message
            } else {
                format!("{field}: {message}")
            },
            field: (!field.is_empty()).then_some(field),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "")
        }
    }

    /// An unexpected failure: the detail goes to the log, the client gets an opaque 500.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the hub's log",
        )
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

/// How long a client refused for a storage failure is asked to wait: the disk is watched every
/// second, but freeing space is the owner's to do.
const STORAGE_RETRY_AFTER_SECS: u64 = 30;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(failure) => Self::storage(failure),
            e => Self::internal(e),
        }
    }
}

impl ApiError {
    /// 503 for a write the disk did not confirm within the request's time.
    pub fn storage_slow() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::store::Failure::Failing.code(),
            "the hub's disk did not confirm the write in time; nothing was recorded, try again later",
        )
        .with_retry_after(STORAGE_RETRY_AFTER_SECS)
    }

    /// 503 for a disk that does not take writes (see `store::health`).
    pub fn storage(failure: crate::store::Failure) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            failure.code(),
            failure.message(),
        )
        .with_retry_after(STORAGE_RETRY_AFTER_SECS)
    }
}

impl From<crate::queue::SubmitError> for ApiError {
    fn from(e: crate::queue::SubmitError) -> Self {
        match e {
            crate::queue::SubmitError::Full(full) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_full",
                full.to_string(),
            )
            .with_retry_after(5),
            crate::queue::SubmitError::Store(e) => e.into(),
        }
    }
}

/// The code and message of an error answer, kept on the response so a layer outside the
/// handler (the webhook refusal record) learns why without reading the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(field) = &self.field {
            error["field"] = json!(field);
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(ErrorInfo {
            code: self.code,
            message: self.message,
        });
        response
    }
}
