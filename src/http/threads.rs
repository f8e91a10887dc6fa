//! Threads, members and messages over HTTP.

use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::schemas::{
    AddMemberRequest, CreateThreadRequest, ErrorResponse, MessagesResponse, OkResponse,
    PostMessageRequest, PostedMessageResponse, RenameThreadRequest, ThreadResponse,
    ThreadsResponse,
};

use super::form::{read_form, FileRule};
use super::respond;
use super::users::int_param;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::http::error::ApiError;
use crate::http::extract::AuthUser;
use crate::http::state::AppState;
use crate::services::chat::SendInput;

pub const MAX_ATTACHMENTS: usize = 10;

#[utoipa::path(get, path = "/threads", tag = "threads", security(("bearer" = [])), responses((status = 200, body = ThreadsResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse)))]
pub async fn list(auth: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let threads = state.chat.list_threads(auth.user.id).await?;
    Ok(respond(
        StatusCode::OK,
        ThreadsResponse {
            success: true,
            message: "Get Threads Successfully".into(),
            threads,
        },
    ))
}

#[utoipa::path(get, path = "/threads/{id}", operation_id = "get_thread", tag = "threads", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = ThreadResponse), (status = 400, description = "The id is not a 64-bit integer", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member", body = ErrorResponse), (status = 404, description = "Not found", body = ErrorResponse)))]
pub async fn get(
    auth: AuthUser,
    id: web::Path<ThreadId>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let thread = state.chat.thread(auth.user.id, id.into_inner()).await?;
    Ok(respond(
        StatusCode::OK,
        ThreadResponse {
            success: true,
            message: "Get Thread Successfully".into(),
            thread,
        },
    ))
}

#[utoipa::path(patch, path = "/threads/{id}", operation_id = "rename_thread", tag = "threads", security(("bearer" = [])), params(("id" = i64, Path)), request_body(content((RenameThreadRequest = "application/json"), (RenameThreadRequest = "application/x-www-form-urlencoded"), (RenameThreadRequest = "multipart/form-data"))), responses((status = 200, description = "Update Thread Successfully", body = ThreadResponse), (status = 400, description = "Validation failed, or a direct thread", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member, or not the owner", body = ErrorResponse), (status = 404, description = "Not found", body = ErrorResponse)))]
pub async fn rename(
    auth: AuthUser,
    id: web::Path<ThreadId>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = read_form(&req, payload, &state, &[]).await?;
    let name = match form.fields.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::validation("name must be a string")),
        None => return Err(ApiError::validation("name is required")),
    };
    let thread = state
        .chat
        .rename_group(auth.user.id, id.into_inner(), &name)
        .await?;
    Ok(respond(
        StatusCode::OK,
        ThreadResponse {
            success: true,
            message: "Update Thread Successfully".into(),
            thread,
        },
    ))
}

/// An id field that may arrive as a JSON number or, from forms, as a string.
fn id_field(
    fields: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<UserId>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|id| Some(UserId(id)))
            .ok_or_else(|| ApiError::validation(format!("{name} must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(|id| Some(UserId(id)))
            .map_err(|_| ApiError::validation(format!("{name} must be an integer"))),
        Some(_) => Err(ApiError::validation(format!("{name} must be an integer"))),
    }
}

#[utoipa::path(post, path = "/threads", tag = "threads", security(("bearer" = [])), request_body(content((CreateThreadRequest = "application/json"), (CreateThreadRequest = "application/x-www-form-urlencoded"), (CreateThreadRequest = "multipart/form-data"))), responses((status = 200, description = "Get Thread Successfully / New Thread was created", body = ThreadResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 404, description = "Not found", body = ErrorResponse)))]
pub async fn create(
    auth: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = read_form(&req, payload, &state, &[]).await?;
    let me = auth.user.id;
    if let Some(user_id) = id_field(&form.fields, "userId")? {
        let (thread, created) = state.chat.open_direct(me, user_id).await?;
        let message = if created {
            "New Thread was created"
        } else {
            "Get Thread Successfully"
        };
        return Ok(respond(
            StatusCode::OK,
            ThreadResponse {
                success: true,
                message: message.into(),
                thread,
            },
        ));
    }
    let name = match form.fields.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::validation("name must be a string")),
        None => {
            return Err(ApiError::validation(
                "userId (direct thread) or name and memberIds (group) is required",
            ))
        }
    };
    let member_ids = match form.fields.get("memberIds") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_i64()
                    .map(UserId)
                    .ok_or_else(|| ApiError::validation("memberIds must be an array of integers"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(ApiError::validation(
                "memberIds must be an array of integers",
            ))
        }
    };
    let thread = state.chat.create_group(me, &name, member_ids).await?;
    Ok(respond(
        StatusCode::OK,
        ThreadResponse {
            success: true,
            message: "New Thread was created".into(),
            thread,
        },
    ))
}

#[utoipa::path(post, path = "/threads/{id}/members", tag = "threads", security(("bearer" = [])), params(("id" = i64, Path)), request_body(content((AddMemberRequest = "application/json"), (AddMemberRequest = "application/x-www-form-urlencoded"), (AddMemberRequest = "multipart/form-data"))), responses((status = 200, body = ThreadResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not the owner", body = ErrorResponse), (status = 404, description = "Not found", body = ErrorResponse)))]
pub async fn add_member(
    auth: AuthUser,
    id: web::Path<ThreadId>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = read_form(&req, payload, &state, &[]).await?;
    let user_id = id_field(&form.fields, "userId")?
        .ok_or_else(|| ApiError::validation("userId is required"))?;
    let thread = state
        .chat
        .add_member(auth.user.id, id.into_inner(), user_id)
        .await?;
    Ok(respond(
        StatusCode::OK,
        ThreadResponse {
            success: true,
            message: "Member added".into(),
            thread,
        },
    ))
}

#[utoipa::path(delete, path = "/threads/{id}/members/{user_id}", tag = "threads", security(("bearer" = [])), params(("id" = i64, Path), ("user_id" = i64, Path)), responses((status = 200, body = OkResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member", body = ErrorResponse), (status = 404, description = "Not found", body = ErrorResponse)))]
pub async fn remove_member(
    auth: AuthUser,
    path: web::Path<(ThreadId, UserId)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (thread_id, user_id) = path.into_inner();
    state
        .chat
        .remove_member(auth.user.id, thread_id, user_id)
        .await?;
    Ok(respond(
        StatusCode::OK,
        OkResponse {
            success: true,
            message: "Member removed".into(),
        },
    ))
}

#[derive(Deserialize)]
pub struct PageQuery {
    before: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, path = "/threads/{id}/messages", tag = "messages", security(("bearer" = [])), params(("id" = i64, Path), ("before" = Option<i64>, Query), ("after" = Option<i64>, Query), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1-100, default 50")), responses((status = 200, body = MessagesResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member", body = ErrorResponse), (status = 404, description = "Not found", body = ErrorResponse), (status = 429, description = "Too many large reads (history, sync, pages) for this user", body = ErrorResponse)))]
pub async fn messages(
    auth: AuthUser,
    id: web::Path<ThreadId>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let before = int_param("before", query.before.as_deref())?.map(MessageId);
    let after = int_param("after", query.after.as_deref())?.map(MessageId);
    let limit = int_param("limit", query.limit.as_deref())?;
    let (messages, has_more) = state
        .chat
        .history(auth.user.id, id.into_inner(), before, after, limit)
        .await?;
    Ok(respond(
        StatusCode::OK,
        MessagesResponse {
            success: true,
            message: "Get Messages Successfully".into(),
            messages,
            has_more,
        },
    ))
}

/// Stores a message (text and/or files) and delivers it over WebSocket like a `send`.
/// Answers `{success, message: <the message object>}`: 201 when new, 200 for a repeat.
#[utoipa::path(post, path = "/threads/{id}/messages", tag = "messages", security(("bearer" = [])), params(("id" = i64, Path)), request_body(content((PostMessageRequest = "multipart/form-data"), (PostMessageRequest = "application/json"), (PostMessageRequest = "application/x-www-form-urlencoded"))), responses((status = 201, description = "Stored and delivered", body = PostedMessageResponse), (status = 200, description = "A repeated clientMsgId: the original message", body = PostedMessageResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member", body = ErrorResponse), (status = 404, description = "Not found", body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 429, body = ErrorResponse)))]
pub async fn post_message(
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
    let string_field = |name: &str| -> Result<Option<String>, ApiError> {
        match form.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) if name == "clientMsgId" => Ok(Some(n.to_string())),
            Some(_) => Err(ApiError::validation(format!("{name} must be a string"))),
        }
    };
    let text = string_field("text")?;
    let client_msg_id = string_field("clientMsgId")?;
    // an empty text beside files means "no caption"
    let text = text.filter(|t| !t.is_empty() || form.files.is_empty());
    let files = form.files.into_iter().map(|(_, upload)| upload).collect();
    let input = SendInput {
        thread_id,
        text,
        client_msg_id,
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
