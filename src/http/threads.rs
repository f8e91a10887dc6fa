//! Threads and their members over HTTP (their messages: [`super::messages`]).

use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::schemas::{
    AddMemberRequest, CreateThreadRequest, ErrorResponse, OkResponse, RenameThreadRequest,
    ThreadResponse, ThreadsResponse,
};

use super::form::read_form;
use super::respond;
use crate::domain::ids::{ThreadId, UserId};
use crate::http::error::ApiError;
use crate::http::extract::AuthUser;
use crate::http::state::AppState;

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
pub(super) fn id_field(
    fields: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<i64>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::validation(format!("{name} must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
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
    // one of the two shapes /openapi.json gives: a body that mixes them is refused rather
    // than half read (fields of neither are ignored, as on every route)
    let direct = form.fields.contains_key("userId");
    let group_field = ["name", "memberIds"]
        .into_iter()
        .find(|k| form.fields.contains_key(*k));
    if let (true, Some(field)) = (direct, group_field) {
        return Err(ApiError::validation(format!(
            "{field} is not a field of a direct thread: send userId (a direct thread) or name and memberIds (a group)"
        )));
    }
    if direct {
        let user_id = id_field(&form.fields, "userId")?
            .map(UserId)
            .ok_or_else(|| ApiError::validation("userId must be an integer"))?;
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
        .map(UserId)
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
