//! The one place where failures become HTTP answers. Every error body is
//! `{"error": {"code": "…", "message": "…"}}` (plus `field` when one input field is to blame).
//! [`ErrorCode`] is every code the hub answers with, and its one table gives each its status
//! and wire string; domain errors become answers through the `From` impls below, never by a
//! handler picking a status. Deliberate errors carry their own message; anything else is
//! logged and answered with an opaque 500, so internals never reach a client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::channels::LinkError;
use crate::hooks::RebuildError;
use crate::store::{Failure, StoreError};
use crate::verify::VerifyError;

/// Every error code the hub answers with (SPEC §4, §8, §11). The wire strings are part of the
/// contract: senders, scripts and the UI read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    // A delivery, in the order of SPEC §4's steps.
    HookNotFound,
    MethodNotAllowed,
    IpNotAllowed,
    PayloadTooLarge,
    RequestTimeout,
    AuthInvalid,
    TimestampOutOfTolerance,
    /// A webhook (or a hook test) body that does not parse as its content type says.
    PayloadInvalid,
    LockKeyInvalid,
    RateLimited,
    TooManyConnections,
    QueueFull,
    /// The data dir does not take writes; the wire string is the failure's own
    /// (`storage_full`, `storage_read_only`, `storage_unavailable`), as `/healthz` shows it.
    Storage(Failure),
    // The admin API and the UI.
    Unauthorized,
    InvalidToken,
    TooManyAttempts,
    CsrfFailed,
    ValidationFailed,
    HookExists,
    HookReadOnly,
    ExecutionNotFound,
    BindingNotFound,
    InvalidCode,
    ChannelNotConfigured,
    /// A Slack slash command whose form body does not parse. Its wire string is
    /// `invalid_payload`, not the `payload_invalid` of deliveries: the two drifted apart before
    /// the codes were one table, SPEC names only the delivery's, and answers do not change in a
    /// refactor. Kept as it is until a release may rename it.
    SlashCommandInvalid,
    /// A route that does not exist.
    NotFound,
    Internal,
}

impl ErrorCode {
    /// The one table: each code's status and wire string.
    fn entry(self) -> (StatusCode, &'static str) {
        use ErrorCode::*;
        match self {
            HookNotFound => (StatusCode::NOT_FOUND, "hook_not_found"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            IpNotAllowed => (StatusCode::FORBIDDEN, "ip_not_allowed"),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            AuthInvalid => (StatusCode::UNAUTHORIZED, "auth_invalid"),
            TimestampOutOfTolerance => (StatusCode::UNAUTHORIZED, "timestamp_out_of_tolerance"),
            PayloadInvalid => (StatusCode::BAD_REQUEST, "payload_invalid"),
            LockKeyInvalid => (StatusCode::BAD_REQUEST, "lock_key_invalid"),
            RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            TooManyConnections => (StatusCode::TOO_MANY_REQUESTS, "too_many_connections"),
            QueueFull => (StatusCode::SERVICE_UNAVAILABLE, "queue_full"),
            Storage(failure) => (StatusCode::SERVICE_UNAVAILABLE, failure.code()),
            Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            CsrfFailed => (StatusCode::FORBIDDEN, "csrf_failed"),
            ValidationFailed => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            HookExists => (StatusCode::CONFLICT, "hook_exists"),
            HookReadOnly => (StatusCode::CONFLICT, "hook_read_only"),
            ExecutionNotFound => (StatusCode::NOT_FOUND, "execution_not_found"),
            BindingNotFound => (StatusCode::NOT_FOUND, "binding_not_found"),
            InvalidCode => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_code"),
            ChannelNotConfigured => (StatusCode::NOT_FOUND, "channel_not_configured"),
            SlashCommandInvalid => (StatusCode::BAD_REQUEST, "invalid_payload"),
            NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn status(self) -> StatusCode {
        self.entry().0
    }

    /// The code as the answer's `error.code` carries it.
    pub fn as_str(self) -> &'static str {
        self.entry().1
    }
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The input field at fault, such as `triggerConfig.webhookPath`.
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
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
            ..Self::new(ErrorCode::ValidationFailed, "")
        }
    }

    /// An unexpected failure: the detail goes to the log, the client gets an opaque 500.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorCode::Internal, "internal error; see the hub's log")
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

/// How long a client refused for a storage failure is asked to wait: the disk is watched every
/// second, but freeing space is the owner's to do.
const STORAGE_RETRY_AFTER_SECS: u64 = 30;

impl ApiError {
    /// 503 for a write the disk did not confirm within the request's time.
    pub fn storage_slow() -> Self {
        Self::new(
            ErrorCode::Storage(Failure::Failing),
            "the hub's disk did not confirm the write in time; nothing was recorded, try again later",
        )
        .with_retry_after(STORAGE_RETRY_AFTER_SECS)
    }

    /// 503 for a disk that does not take writes (see `store::health`).
    pub fn storage(failure: Failure) -> Self {
        Self::new(ErrorCode::Storage(failure), failure.message())
            .with_retry_after(STORAGE_RETRY_AFTER_SECS)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(failure) => Self::storage(failure),
            StoreError::Unreachable(ref why) => {
                tracing::warn!(error = %why, "the database cannot be reached");
                Self::storage(crate::store::Failure::Failing)
            }
            e => Self::internal(e),
        }
    }
}

impl From<crate::queue::SubmitError> for ApiError {
    fn from(e: crate::queue::SubmitError) -> Self {
        match e {
            crate::queue::SubmitError::Full(full) => {
                Self::new(ErrorCode::QueueFull, full.to_string()).with_retry_after(5)
            }
            crate::queue::SubmitError::Store(e) => e.into(),
        }
    }
}

/// A sender that did not verify, for a delivery or a Slack slash command: 401, with a stale
/// timestamp told apart because it needs a different fix (the sender's clock, not its secret).
impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        let code = match e {
            VerifyError::TimestampOutOfTolerance { .. } => ErrorCode::TimestampOutOfTolerance,
            _ => ErrorCode::AuthInvalid,
        };
        Self::new(code, e.to_string())
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Invalid => Self {
                field: Some("code".into()),
                ..Self::new(ErrorCode::InvalidCode, e.to_string())
            },
            LinkError::TooManyTries => {
                Self::new(ErrorCode::TooManyAttempts, e.to_string()).with_retry_after(60)
            }
            LinkError::Store(e) => e.into(),
        }
    }
}

/// The hooks as stored no longer make a set: the edit that caused it was checked already, so
/// this is the hub's fault, not the client's.
impl From<RebuildError> for ApiError {
    fn from(e: RebuildError) -> Self {
        match e {
            RebuildError::Store(e) => e.into(),
            RebuildError::Hooks(e) => Self::internal(e.joined("; ")),
        }
    }
}

/// The code and message of an error answer, kept on the response so a layer outside the
/// handler (the webhook refusal record) learns why without reading the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: ErrorCode,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(field) = &self.field {
            error["field"] = json!(field);
        }
        let mut response = (self.status(), Json(json!({ "error": error }))).into_response();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire strings and statuses are the contract (SPEC §4, §8, §11): this pins the table.
    #[test]
    fn every_code_keeps_its_status_and_wire_string() {
        use ErrorCode::*;
        let table = [
            (HookNotFound, 404, "hook_not_found"),
            (MethodNotAllowed, 405, "method_not_allowed"),
            (IpNotAllowed, 403, "ip_not_allowed"),
            (PayloadTooLarge, 413, "payload_too_large"),
            (RequestTimeout, 408, "request_timeout"),
            (AuthInvalid, 401, "auth_invalid"),
            (TimestampOutOfTolerance, 401, "timestamp_out_of_tolerance"),
            (PayloadInvalid, 400, "payload_invalid"),
            (LockKeyInvalid, 400, "lock_key_invalid"),
            (RateLimited, 429, "rate_limited"),
            (TooManyConnections, 429, "too_many_connections"),
            (QueueFull, 503, "queue_full"),
            (Storage(Failure::Full), 503, "storage_full"),
            (Storage(Failure::ReadOnly), 503, "storage_read_only"),
            (Storage(Failure::Failing), 503, "storage_unavailable"),
            (Unauthorized, 401, "unauthorized"),
            (InvalidToken, 401, "invalid_token"),
            (TooManyAttempts, 429, "too_many_attempts"),
            (CsrfFailed, 403, "csrf_failed"),
            (ValidationFailed, 422, "validation_failed"),
            (HookExists, 409, "hook_exists"),
            (HookReadOnly, 409, "hook_read_only"),
            (ExecutionNotFound, 404, "execution_not_found"),
            (BindingNotFound, 404, "binding_not_found"),
            (InvalidCode, 422, "invalid_code"),
            (ChannelNotConfigured, 404, "channel_not_configured"),
            (SlashCommandInvalid, 400, "invalid_payload"),
            (NotFound, 404, "not_found"),
            (Internal, 500, "internal"),
        ];
        for (code, status, wire) in table {
            assert_eq!((code.status().as_u16(), code.as_str()), (status, wire));
        }
    }

    #[test]
    fn a_stale_timestamp_is_told_apart_from_a_bad_signature() {
        let stale = ApiError::from(VerifyError::TimestampOutOfTolerance {
            header: "webhook-timestamp".into(),
            tolerance_secs: 300,
        });
        assert_eq!(stale.code.as_str(), "timestamp_out_of_tolerance");
        let wrong = ApiError::from(VerifyError::Mismatch("x-hub-signature-256".into()));
        assert_eq!(
            (wrong.status(), wrong.code.as_str()),
            (StatusCode::UNAUTHORIZED, "auth_invalid")
        );
        assert_eq!(
            wrong.message,
            "signature in x-hub-signature-256 does not match"
        );
    }
}
