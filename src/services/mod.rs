//! The services both faces call: [`accounts`] (register, login, tokens, profiles) and [`chat`]
//! (threads, messages, typing, read marks, presence). They know no actix types; they return
//! [`Error`], which each face maps once (HTTP: `http::error`, WebSocket: `ws::connection`).

pub mod accounts;
pub mod chat;

use crate::db::DbError;
use crate::domain::error::ErrorCode;
use crate::storage::StorageError;

/// What a service call can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Validation(String),
    #[error("User Name is already taken")]
    UsernameTaken,
    /// The seed's exact messages ("AccessToken Not Found", "Invalid AccessToken", ...).
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("You are not a member of this thread")]
    NotMember,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Too many requests, retry in {0}s")]
    RateLimited(u64),
    /// The user holds `MAX_CONNECTIONS_PER_USER` sockets already.
    #[error("Too many open connections for this user")]
    TooManyConnections,
    /// The server is saturated (password hashing): come back after the seconds given.
    #[error("{message}")]
    Unavailable { retry_after: u64, message: String },
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// A failure of our own (a signing or hashing error): logged, shown as INTERNAL.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Validation(_) => ErrorCode::Validation,
            Error::UsernameTaken => ErrorCode::UsernameTaken,
            Error::Unauthorized(_) => ErrorCode::Unauthorized,
            Error::NotMember => ErrorCode::NotMember,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::RateLimited(_) | Error::TooManyConnections => ErrorCode::RateLimited,
            Error::Unavailable { .. } => ErrorCode::Unavailable,
            Error::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Error::Storage(StorageError::TooLarge { .. }) => ErrorCode::PayloadTooLarge,
            Error::Storage(StorageError::Stream(_)) => ErrorCode::Validation,
            Error::Internal(_) | Error::Db(_) | Error::Storage(StorageError::Io(_)) => {
                ErrorCode::Internal
            }
        }
    }

    /// The text a client is shown: never the inside of an internal failure, which is logged.
    pub fn public_message(&self) -> String {
        match self {
            Error::Storage(StorageError::TooLarge { limit }) => {
                format!("File must be at most {limit} bytes")
            }
            Error::Storage(StorageError::Stream(e)) => format!("Upload failed: {e}"),
            Error::Internal(_) | Error::Db(_) | Error::Storage(StorageError::Io(_)) => {
                tracing::error!(error = %self, "request failed");
                "Internal server error".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// Seconds the client should wait, for `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::RateLimited(secs) => Some(*secs),
            // a socket of the user's closes soon enough, or never: a few seconds
            Error::TooManyConnections => Some(5),
            Error::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}
