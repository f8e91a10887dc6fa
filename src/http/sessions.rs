//! Sessions and tokens: POST /auth/refresh, POST /auth/logout, GET and DELETE /auth/sessions,
//! DELETE /auth/sessions/{id}, POST /auth/password. Each parses, calls the accounts service,
//! and shapes the reply.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::form::read_form;
use super::respond;
use super::schemas::{ErrorResponse, OkResponse};
use super::state::AppState;
use crate::db::models::SessionInfo;
use crate::services::accounts::AuthUser;

/// The request's `User-Agent`, as text (the accounts service cuts it to 200 characters).
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        // not always ASCII in the wild; shown, never interpreted
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshFields {
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordFields {
    current_password: Option<String>,
    password: Option<String>,
    confirm_password: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct RefreshRequest {
    refresh_token: String,
}

/// The new password follows the registration rules.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct PasswordRequest {
    current_password: String,
    #[schema(min_length = 8, max_length = 72)]
    password: String,
    confirm_password: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshResponse {
    pub success: bool,
    pub message: String,
    pub access_token: String,
    pub refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionsResponse {
    pub success: bool,
    pub message: String,
    pub sessions: Vec<SessionInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionsEndedResponse {
    pub success: bool,
    pub message: String,
    /// How many sessions were ended.
    pub ended: usize,
}

fn ok(message: &str) -> HttpResponse {
    respond(
        StatusCode::OK,
        OkResponse {
            success: true,
            message: message.into(),
        },
    )
}

#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body(content((RefreshRequest = "application/json"), (RefreshRequest = "application/x-www-form-urlencoded"), (RefreshRequest = "multipart/form-data"))), responses((status = 200, body = RefreshResponse), (status = 400, description = "refreshToken missing", body = ErrorResponse), (status = 401, description = "Invalid RefreshToken (unknown, expired, spent, or of an ended session; a spent one also ends its session)", body = ErrorResponse), (status = 429, body = ErrorResponse)))]
pub async fn refresh(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.accounts.admit(state.client_addr(&req)).await?;
    let form = read_form(&req, payload, &state, &[]).await?;
    let fields: RefreshFields = form.parse()?;
    let tokens = state.accounts.refresh(fields.refresh_token).await?;
    Ok(respond(
        StatusCode::OK,
        RefreshResponse {
            success: true,
            message: "Refresh Successfully".into(),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
        },
    ))
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])), responses((status = 200, description = "Logout Successfully", body = OkResponse), (status = 401, body = ErrorResponse)))]
pub async fn logout(auth: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.accounts.logout(&auth).await?;
    Ok(ok("Logout Successfully"))
}

#[utoipa::path(get, path = "/auth/sessions", tag = "auth", security(("bearer" = [])), responses((status = 200, body = SessionsResponse), (status = 401, body = ErrorResponse)))]
pub async fn list(auth: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let sessions = state.accounts.sessions(&auth).await?;
    Ok(respond(
        StatusCode::OK,
        SessionsResponse {
            success: true,
            message: "Get Sessions Successfully".into(),
            sessions,
        },
    ))
}

#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "auth", security(("bearer" = [])), params(("id" = String, Path, description = "a session id (`sid`)")), responses((status = 200, description = "Session Ended", body = OkResponse), (status = 401, body = ErrorResponse), (status = 404, description = "Not one of the caller's live sessions", body = ErrorResponse)))]
pub async fn end_one(
    auth: AuthUser,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.accounts.end_session(&auth, &id).await?;
    Ok(ok("Session Ended"))
}

#[utoipa::path(delete, path = "/auth/sessions", tag = "auth", security(("bearer" = [])), responses((status = 200, body = SessionsEndedResponse), (status = 401, body = ErrorResponse)))]
pub async fn end_others(
    auth: AuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let ended = state.accounts.end_other_sessions(&auth).await?;
    Ok(respond(
        StatusCode::OK,
        SessionsEndedResponse {
            success: true,
            message: "Sessions Ended".into(),
            ended,
        },
    ))
}

#[utoipa::path(post, path = "/auth/password", tag = "auth", security(("bearer" = [])), request_body(content((PasswordRequest = "application/json"), (PasswordRequest = "application/x-www-form-urlencoded"), (PasswordRequest = "multipart/form-data"))), responses((status = 200, description = "Password Changed", body = OkResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "userName or password is incorrect, or a bad token", body = ErrorResponse), (status = 429, body = ErrorResponse), (status = 503, description = "Password hashing saturated", body = ErrorResponse)))]
pub async fn change_password(
    req: HttpRequest,
    auth: AuthUser,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = read_form(&req, payload, &state, &[]).await?;
    let fields: PasswordFields = form.parse()?;
    state
        .accounts
        .change_password(
            &auth,
            fields.current_password,
            fields.password,
            fields.confirm_password,
            state.client_addr(&req),
        )
        .await?;
    Ok(ok("Password Changed"))
}
