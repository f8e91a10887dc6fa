//! The bodies of successful responses, typed so that /openapi.json is generated from the very
//! structs the handlers send.

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::models::{Message, Thread, User};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    pub success: bool,
    pub message: String,
    pub access_token: String,
    /// Opaque; renews the pair at `POST /auth/refresh`.
    pub refresh_token: String,
    pub user: User,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub success: bool,
    pub message: String,
    pub user: User,
}

#[derive(Serialize, ToSchema)]
pub struct UsersResponse {
    pub success: bool,
    pub message: String,
    pub users: Vec<User>,
}

#[derive(Serialize, ToSchema)]
pub struct ThreadResponse {
    pub success: bool,
    pub message: String,
    pub thread: Thread,
}

#[derive(Serialize, ToSchema)]
pub struct ThreadsResponse {
    pub success: bool,
    pub message: String,
    pub threads: Vec<Thread>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagesResponse {
    pub success: bool,
    pub message: String,
    pub messages: Vec<Message>,
    pub has_more: bool,
    /// Only for a page `around` a message: newer messages exist after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_more_after: Option<bool>,
}

/// `POST /threads/{id}/messages`: here `message` is the stored message object itself.
#[derive(Serialize, ToSchema)]
pub struct PostedMessageResponse {
    pub success: bool,
    pub message: Message,
}

#[derive(Serialize, ToSchema)]
pub struct OkResponse {
    pub success: bool,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    pub success: bool,
    pub message: String,
    /// VALIDATION, USERNAME_TAKEN, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, PAYLOAD_TOO_LARGE,
    /// UNSUPPORTED_MEDIA_TYPE, RATE_LIMITED, METHOD_NOT_ALLOWED or INTERNAL.
    pub code: String,
}

/// Fields of `POST /auth/register` (JSON, urlencoded or multipart; `avatar` only in multipart).
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct RegisterRequest {
    /// 1-50 code points once trimmed; no control characters.
    #[schema(min_length = 1, max_length = 50)]
    nick_name: String,
    /// Unique case-insensitively.
    #[schema(min_length = 6, max_length = 30, pattern = "^[A-Za-z][A-Za-z0-9_]*$")]
    user_name: String,
    /// 8-72 bytes with a lowercase letter, an uppercase letter and a digit.
    #[schema(min_length = 8, max_length = 72)]
    password: String,
    /// Equal to `password`.
    confirm_password: String,
    #[schema(value_type = Option<String>, format = Binary)]
    avatar: Option<Vec<u8>>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct LoginRequest {
    user_name: String,
    password: String,
}

/// Both optional.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct UpdateMeRequest {
    #[schema(min_length = 1, max_length = 50)]
    nick_name: Option<String>,
    #[schema(value_type = Option<String>, format = Binary)]
    avatar: Option<Vec<u8>>,
}

/// `{userId}` for the direct thread with that user, or `{name, memberIds}` for a new group; a
/// body that mixes the two is refused (other unknown fields are ignored, as everywhere).
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum CreateThreadRequest {
    Direct(DirectThreadRequest),
    Group(GroupThreadRequest),
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct DirectThreadRequest {
    user_id: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct GroupThreadRequest {
    /// 1-100 code points once trimmed; no control characters.
    name: String,
    /// The other members (the caller is the owner).
    member_ids: Option<Vec<i64>>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct AddMemberRequest {
    user_id: i64,
}

/// A group's new name: 1-100 code points after trimming, no control characters.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RenameThreadRequest {
    name: String,
}

/// Text and/or files; JSON carries `text` and `clientMsgId` only.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct PostMessageRequest {
    text: Option<String>,
    client_msg_id: Option<String>,
    /// A message of the same thread, not deleted, that this one answers.
    reply_to: Option<i64>,
    #[schema(value_type = Option<Vec<String>>)]
    attachments: Option<Vec<Vec<u8>>>,
}

/// `PATCH /threads/{id}/messages/{messageId}`.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the body for /openapi.json; the handler reads it as a form
pub struct EditMessageRequest {
    /// The new text: the same rules as a new message's.
    text: String,
}
