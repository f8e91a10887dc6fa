//! A thread's messages over HTTP: pages (and the page around one), one message, posting with
//! files, and the lifecycle routes (edit, delete, reactions), each the twin of a WebSocket
//! request with the same rules.

use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::form::{read_form, FileRule};
use super::respond;
use super::schemas::{
    EditMessageRequest, ErrorResponse, MessagesResponse, PostMessageRequest, PostedMessageResponse,
};
use super::threads::id_field;
use super::users::int_param;
use crate::domain::ids::{MessageId, ThreadId};
use crate::http::error::ApiError;
use crate::http::extract::AuthUser;
use crate::http::state::AppState;
use crate::services::chat::{MessageRef, SendInput};

pub const MAX_ATTACHMENTS: usize = 10;

#[derive(Deserialize)]
pub struct PageQuery {
    before: Option<String>,
    after: Option<String>,
    around: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, path = "/threads/{id}/messages", tag = "messages", security(("bearer" = [])), params(("id" = i64, Path), ("before" = Option<i64>, Query), ("after" = Option<i64>, Query), ("around" = Option<i64>, Query, description = "A message of the thread: the page around it (excludes before and after)"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1-100, default 50")), responses((status = 200, body = MessagesResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member", body = ErrorResponse), (status = 404, description = "Not found", body = ErrorResponse), (status = 429, description = "Too many large reads (history, sync, pages) for this user", body = ErrorResponse)))]
pub async fn list(
    auth: AuthUser,
    id: web::Path<ThreadId>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let before = int_param("before", query.before.as_deref())?.map(MessageId);
    let after = int_param("after", query.after.as_deref())?.map(MessageId);
    let around = int_param("around", query.around.as_deref())?.map(MessageId);
    let limit = int_param("limit", query.limit.as_deref())?;
    let thread_id = id.into_inner();
    let page = match around {
        Some(_) if before.is_some() || after.is_some() => {
            return Err(ApiError::validation(
                "around cannot be combined with before or after",
            ))
        }
        Some(around) => {
            let page = state
                .chat
                .around(auth.user.id, thread_id, around, limit)
                .await?;
            MessagesResponse {
                success: true,
                message: "Get Messages Successfully".into(),
                messages: page.messages,
                has_more: page.has_more,
                has_more_after: Some(page.has_more_after),
            }
        }
        None => {
            let (messages, has_more) = state
                .chat
                .history(auth.user.id, thread_id, before, after, limit)
                .await?;
            MessagesResponse {
                success: true,
                message: "Get Messages Successfully".into(),
                messages,
                has_more,
                has_more_after: None,
            }
        }
    };
    Ok(respond(StatusCode::OK, page))
}

/// Stores a message (text and/or files) and delivers it over WebSocket like a `send`.
/// Answers `{success, message: <the message object>}`: 201 when new, 200 for a repeat.
#[utoipa::path(post, path = "/threads/{id}/messages", tag = "messages", security(("bearer" = [])), params(("id" = i64, Path)), request_body(content((PostMessageRequest = "multipart/form-data"), (PostMessageRequest = "application/json"), (PostMessageRequest = "application/x-www-form-urlencoded"))), responses((status = 201, description = "Stored and delivered", body = PostedMessageResponse), (status = 200, description = "A repeated clientMsgId: the original message", body = PostedMessageResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member", body = ErrorResponse), (status = 404, description = "Not found", body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 429, body = ErrorResponse)))]
pub async fn post(
    auth: AuthUser,
    id: web::Path<ThreadId>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let thread_id = id.into_inner();
    state.chat.admit_post(auth.user.id, thread_id).await?;
    let rule = FileRule {
        field: "attachments",
        max_bytes: state.config.max_attachment_bytes,
        max_count: MAX_ATTACHMENTS,
    };
    let form = read_form(&req, payload, &state, &[rule]).await?;
    let text = string_field(&form.fields, "text")?;
    let client_msg_id = string_field(&form.fields, "clientMsgId")?;
    let reply_to = id_field(&form.fields, "replyTo")?.map(MessageId);
    // an empty text beside files means "no caption"
    let text = text.filter(|t| !t.is_empty() || form.files.is_empty());
    let files = form.files.into_iter().map(|(_, upload)| upload).collect();
    let input = SendInput {
        thread_id,
        text,
        client_msg_id,
        reply_to,
        files,
    };
    let (message, created) = state.chat.send(auth.user.id, input, None).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(respond(
        status,
        PostedMessageResponse {
            success: true,
            message,
        },
    ))
}

fn string_field(
    fields: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if name == "clientMsgId" => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::validation(format!("{name} must be a string"))),
    }
}

fn message_ref(path: (ThreadId, MessageId)) -> MessageRef {
    MessageRef::InThread(path.0, path.1)
}

fn answer(message: crate::db::models::Message) -> HttpResponse {
    respond(
        StatusCode::OK,
        PostedMessageResponse {
            success: true,
            message,
        },
    )
}

#[utoipa::path(get, path = "/threads/{id}/messages/{message_id}", operation_id = "get_message", tag = "messages", security(("bearer" = [])), params(("id" = i64, Path), ("message_id" = i64, Path)), responses((status = 200, description = "The message (a deleted one as its tombstone)", body = PostedMessageResponse), (status = 400, description = "An id is not a 64-bit integer", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member", body = ErrorResponse), (status = 404, description = "No such thread, or no such message in it", body = ErrorResponse)))]
pub async fn get(
    auth: AuthUser,
    path: web::Path<(ThreadId, MessageId)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (thread_id, message_id) = path.into_inner();
    let message = state
        .chat
        .message(auth.user.id, thread_id, message_id)
        .await?;
    Ok(answer(message))
}

#[utoipa::path(patch, path = "/threads/{id}/messages/{message_id}", operation_id = "edit_message", tag = "messages", security(("bearer" = [])), params(("id" = i64, Path), ("message_id" = i64, Path)), request_body(content((EditMessageRequest = "application/json"), (EditMessageRequest = "application/x-www-form-urlencoded"), (EditMessageRequest = "multipart/form-data"))), responses((status = 200, description = "The message as it now is", body = PostedMessageResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member, or not the sender", body = ErrorResponse), (status = 404, description = "No such thread, or no such message in it, or deleted", body = ErrorResponse), (status = 429, body = ErrorResponse)))]
pub async fn edit(
    auth: AuthUser,
    path: web::Path<(ThreadId, MessageId)>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = read_form(&req, payload, &state, &[]).await?;
    let text = string_field(&form.fields, "text")?
        .ok_or_else(|| ApiError::validation("text is required"))?;
    let message = state
        .chat
        .edit(auth.user.id, message_ref(path.into_inner()), text, None)
        .await?;
    Ok(answer(message))
}

#[utoipa::path(delete, path = "/threads/{id}/messages/{message_id}", operation_id = "delete_message", tag = "messages", security(("bearer" = [])), params(("id" = i64, Path), ("message_id" = i64, Path)), responses((status = 200, description = "The tombstone", body = PostedMessageResponse), (status = 400, description = "An id is not a 64-bit integer", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member, or neither the sender nor the group's owner", body = ErrorResponse), (status = 404, description = "No such thread, or no such message in it", body = ErrorResponse), (status = 429, body = ErrorResponse)))]
pub async fn delete(
    auth: AuthUser,
    path: web::Path<(ThreadId, MessageId)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let message = state
        .chat
        .delete(auth.user.id, message_ref(path.into_inner()), None)
        .await?;
    Ok(answer(message))
}

/// The emoji of `/threads/{id}/messages/{messageId}/reactions/{emoji}`, decoded from the raw
/// path: the router leaves `%2F`, `%25` and `%2B` encoded, and an emoji may be any of them.
fn emoji_segment(req: &HttpRequest) -> Result<String, ApiError> {
    let raw = req.uri().path().rsplit('/').next().unwrap_or_default();
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|emoji| emoji.into_owned())
        .map_err(|_| ApiError::validation("emoji must be percent-encoded UTF-8"))
}

#[utoipa::path(put, path = "/threads/{id}/messages/{message_id}/reactions/{emoji}", operation_id = "add_reaction", tag = "messages", security(("bearer" = [])), params(("id" = i64, Path), ("message_id" = i64, Path), ("emoji" = String, Path, description = "1-32 bytes of UTF-8, percent-encoded, no whitespace or control character")), responses((status = 200, description = "The message as it now is (reacting twice changes nothing)", body = PostedMessageResponse), (status = 400, description = "Validation failed, or a 51st distinct emoji", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member", body = ErrorResponse), (status = 404, description = "No such thread, or no such message in it, or deleted", body = ErrorResponse), (status = 429, body = ErrorResponse)))]
pub async fn add_reaction(
    auth: AuthUser,
    path: web::Path<(ThreadId, MessageId, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    react(auth, path, req, state, true).await
}

#[utoipa::path(delete, path = "/threads/{id}/messages/{message_id}/reactions/{emoji}", operation_id = "remove_reaction", tag = "messages", security(("bearer" = [])), params(("id" = i64, Path), ("message_id" = i64, Path), ("emoji" = String, Path, description = "1-32 bytes of UTF-8, percent-encoded")), responses((status = 200, description = "The message as it now is (removing a reaction that is not there changes nothing)", body = PostedMessageResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member", body = ErrorResponse), (status = 404, description = "No such thread, or no such message in it, or deleted", body = ErrorResponse), (status = 429, body = ErrorResponse)))]
pub async fn remove_reaction(
    auth: AuthUser,
    path: web::Path<(ThreadId, MessageId, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    react(auth, path, req, state, false).await
}

/// PUT (`on`) and DELETE (off) of a reaction: one service call.
async fn react(
    auth: AuthUser,
    path: web::Path<(ThreadId, MessageId, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
    on: bool,
) -> Result<HttpResponse, ApiError> {
    let (thread_id, message_id, _) = path.into_inner();
    let emoji = emoji_segment(&req)?;
    let message = state
        .chat
        .react(
            auth.user.id,
            MessageRef::InThread(thread_id, message_id),
            emoji,
            on,
            None,
        )
        .await?;
    Ok(answer(message))
}
