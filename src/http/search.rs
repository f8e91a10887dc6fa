//! `GET /search/messages`: message search over the caller's threads.

use actix_web::{http::StatusCode, web, HttpResponse};
use serde::Deserialize;

use super::respond;
use super::schemas::{ErrorResponse, MessagesResponse};
use super::users::int_param;
use crate::domain::ids::{MessageId, ThreadId};
use crate::http::error::ApiError;
use crate::http::extract::AuthUser;
use crate::http::state::AppState;

#[derive(Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    #[serde(rename = "threadId")]
    thread_id: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, path = "/search/messages", tag = "messages", security(("bearer" = [])), params(("q" = String, Query, min_length = 1, max_length = 200, description = "Every word must be in the text, as a word or the start of one, ignoring case; punctuation is ignored; at least one letter or digit"), ("threadId" = Option<i64>, Query, description = "Only this thread (you must be a member)"), ("before" = Option<i64>, Query, description = "A message id: the next page, older than it"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 50, description = "1-50, default 20")), responses((status = 200, description = "Matching messages, newest first", body = MessagesResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 403, description = "Not a member of threadId", body = ErrorResponse), (status = 404, description = "No such thread", body = ErrorResponse), (status = 429, description = "Too many large reads for this user", body = ErrorResponse)))]
pub async fn messages(
    auth: AuthUser,
    query: web::Query<SearchParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = query
        .q
        .as_deref()
        .ok_or_else(|| ApiError::validation("q is required"))?;
    let thread_id = int_param("threadId", query.thread_id.as_deref())?.map(ThreadId);
    let before = int_param("before", query.before.as_deref())?.map(MessageId);
    let limit = int_param("limit", query.limit.as_deref())?;
    let (messages, has_more) = state
        .chat
        .search(auth.user.id, q, thread_id, before, limit)
        .await?;
    Ok(respond(
        StatusCode::OK,
        MessagesResponse {
            success: true,
            message: "Search Messages Successfully".into(),
            messages,
            has_more,
            has_more_after: None,
        },
    ))
}
