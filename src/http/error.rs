//! The contract's JSON error envelope, built in exactly one place. Its status and code come from
//! [`ErrorCode::http`], the same table the WebSocket face reads, so the faces cannot disagree.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub use crate::domain::error::ErrorCode;
use crate::services;

#[derive(Debug, Clone)]
pub struct ApiError {
    /// The code as the contract lists it for HTTP (see [`ErrorCode::http`]).
    pub code: ErrorCode,
    pub status: StatusCode,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let (status, code) = code.http();
        Self {
            code,
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.into(),
            retry_after_secs: None,
        }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, message)
    }
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnsupportedMediaType, message)
    }
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        services::Error::RateLimited(retry_after_secs.max(1)).into()
    }
    /// 408: the request's head or body stalled.
    pub fn timeout() -> Self {
        Self::new(
            ErrorCode::Timeout,
            "The request stalled: no byte arrived in time",
        )
    }
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "Internal server error")
    }
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code.as_str(),
            self.message
        )
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    success: bool,
    message: &'a str,
    code: ErrorCode,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.max(1).to_string()));
        }
        response.json(Envelope {
            success: false,
            message: &self.message,
            code: self.code,
        })
    }
}

/// The one mapping from service errors to HTTP.
impl From<services::Error> for ApiError {
    fn from(err: services::Error) -> Self {
        ApiError {
            retry_after_secs: err.retry_after(),
            ..ApiError::new(err.code(), err.public_message())
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(err: crate::db::DbError) -> Self {
        services::Error::from(err).into()
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(err: crate::storage::StorageError) -> Self {
        services::Error::from(err).into()
    }
}
