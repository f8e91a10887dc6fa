//! GET /users/{id}, GET /users?search=&limit=, PATCH /users/me.

use super::schemas::{ErrorResponse, UpdateMeRequest, UserResponse, UsersResponse};
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::form::{read_form, FileRule};
use super::respond;
use crate::domain::ids::UserId;
use crate::domain::validate;
use crate::http::error::ApiError;
use crate::http::extract::AuthUser;
use crate::http::state::AppState;

#[utoipa::path(get, path = "/users/{id}", operation_id = "get_user", tag = "users", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = UserResponse), (status = 400, description = "The id is not a 64-bit integer", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 404, description = "Not found", body = ErrorResponse)))]
pub async fn get(
    _auth: AuthUser,
    id: web::Path<UserId>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = state.accounts.user(id.into_inner()).await?;
    Ok(respond(
        StatusCode::OK,
        UserResponse {
            success: true,
            message: "Get User Successfully".into(),
            user,
        },
    ))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    search: Option<String>,
    limit: Option<String>,
}

/// Parses an optional integer query parameter strictly ("abc" and "1.5" are refused).
pub fn int_param(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::validation(format!("{name} must be an integer")))
        })
        .transpose()
}

#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])), params(("search" = Option<String>, Query, description = "prefix of userName or nickName"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 50, description = "1-50, default 20")), responses((status = 200, body = UsersResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse)))]
pub async fn search(
    _auth: AuthUser,
    query: web::Query<SearchQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = int_param("limit", query.limit.as_deref())?;
    let limit = validate::limit(limit, 20, 50).map_err(ApiError::validation)?;
    let text = query.search.clone().unwrap_or_default();
    if text.chars().count() > 100 {
        return Err(ApiError::validation(
            "search must be at most 100 characters",
        ));
    }
    let users = state.accounts.search_users(text, limit).await?;
    Ok(respond(
        StatusCode::OK,
        UsersResponse {
            success: true,
            message: "Search Users Successfully".into(),
            users,
        },
    ))
}

#[derive(Deserialize)]
// `avatar` is a file, read apart; unknown fields are ignored, as on every route
#[serde(rename_all = "camelCase")]
struct UpdateFields {
    nick_name: Option<String>,
}

#[utoipa::path(patch, path = "/users/me", tag = "users", security(("bearer" = [])), request_body(description = "Optional: without a body (or with neither field) nothing changes", content((Option<UpdateMeRequest> = "application/json"), (Option<UpdateMeRequest> = "application/x-www-form-urlencoded"), (Option<UpdateMeRequest> = "multipart/form-data"))), responses((status = 200, body = UserResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse)))]
pub async fn update_me(
    auth: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = read_form(&req, payload, &state, &[FileRule::avatar(&state.config)]).await?;
    let fields: UpdateFields = form.parse()?;
    let avatar = form.files.into_iter().next().map(|(_, upload)| upload);
    // unknown fields beside known ones are ignored; a body of nothing but unknown fields is
    // surely a mistake (a misspelt field), not a request to change nothing
    if !form.fields.is_empty() && fields.nick_name.is_none() && avatar.is_none() {
        return Err(ApiError::validation(
            "nothing to change: send nickName and/or an avatar file",
        ));
    }
    let user = state
        .accounts
        .update_profile(auth.user.id, fields.nick_name, avatar)
        .await?;
    Ok(respond(
        StatusCode::OK,
        UserResponse {
            success: true,
            message: "Update User Successfully".into(),
            user,
        },
    ))
}
