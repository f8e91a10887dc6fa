//! Every error code of the contract, once, for both faces: HTTP answers with `http()`'s status
//! and code, WebSocket error frames carry `as_str()`. A service error names one of these, so the
//! two faces cannot disagree about what went wrong.

use serde::{Serialize, Serializer};

/// The schema (in /asyncapi.json) lists the variants as `as_str()` spells them; a test checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    Validation,
    UsernameTaken,
    Unauthorized,
    Forbidden,
    /// A user asking about a thread they are not in (HTTP: 403 `FORBIDDEN`).
    NotMember,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    Timeout,
    RateLimited,
    Unavailable,
    Internal,
    /// WebSocket only: a frame that is not JSON, or not an object.
    BadJson,
    /// WebSocket only: a `type` the server does not know.
    UnknownType,
    /// WebSocket only: a binary frame.
    BadFrame,
}

impl ErrorCode {
    /// Every code, for documents that list them.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::Validation,
        ErrorCode::UsernameTaken,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotMember,
        ErrorCode::NotFound,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Timeout,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::BadJson,
        ErrorCode::UnknownType,
        ErrorCode::BadFrame,
    ];

    /// The code as the contract spells it (and WebSocket error frames carry it).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "VALIDATION",
            ErrorCode::UsernameTaken => "USERNAME_TAKEN",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotMember => "NOT_MEMBER",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::BadJson => "BAD_JSON",
            ErrorCode::UnknownType => "UNKNOWN_TYPE",
            ErrorCode::BadFrame => "BAD_FRAME",
        }
    }

    /// The HTTP status and the code an HTTP error response carries. HTTP has no `NOT_MEMBER`
    /// (the seed's clients know 403 `FORBIDDEN`); the frame-only codes are malformed input.
    pub const fn http(self) -> (u16, ErrorCode) {
        match self {
            ErrorCode::Validation => (400, self),
            ErrorCode::UsernameTaken => (401, self),
            ErrorCode::Unauthorized => (401, self),
            ErrorCode::Forbidden => (403, self),
            ErrorCode::NotMember => (403, ErrorCode::Forbidden),
            ErrorCode::NotFound => (404, self),
            ErrorCode::PayloadTooLarge => (413, self),
            ErrorCode::UnsupportedMediaType => (415, self),
            ErrorCode::MethodNotAllowed => (405, self),
            ErrorCode::Timeout => (408, self),
            ErrorCode::RateLimited => (429, self),
            ErrorCode::Unavailable => (503, self),
            ErrorCode::Internal => (500, self),
            ErrorCode::BadJson | ErrorCode::UnknownType | ErrorCode::BadFrame => {
                (400, ErrorCode::Validation)
            }
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn http_codes_are_ones_the_contract_lists_for_http() {
        for code in [
            ErrorCode::Validation,
            ErrorCode::NotMember,
            ErrorCode::BadJson,
            ErrorCode::UnknownType,
            ErrorCode::BadFrame,
            ErrorCode::Internal,
        ] {
            let (status, http_code) = code.http();
            assert!((400..600).contains(&status));
            assert_eq!(
                http_code.http(),
                (status, http_code),
                "{code:?} maps to itself"
            );
        }
        assert_eq!(ErrorCode::NotMember.http(), (403, ErrorCode::Forbidden));
    }

    #[test]
    fn the_schema_lists_every_code_as_frames_spell_it() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(ErrorCode::schema()).unwrap();
        let listed: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let spelled: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            listed, spelled,
            "one variant per code, in order, none left out"
        );
    }
}
