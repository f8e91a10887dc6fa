//! The seed's three auth routes, byte-for-byte: POST /auth/register, POST /auth/login, GET /auth.
//! Each parses its body, calls the accounts service, and shapes the reply.

use super::schemas::{AuthResponse, ErrorResponse, LoginRequest, RegisterRequest, UserResponse};
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::form::{read_form, FileRule};
use super::respond;
use super::state::AppState;
use crate::services::accounts::{AuthUser, LoggedIn, Registration};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterFields {
    nick_name: Option<String>,
    user_name: Option<String>,
    password: Option<String>,
    confirm_password: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginFields {
    user_name: Option<String>,
    password: Option<String>,
}

fn session(message: &str, session: LoggedIn) -> HttpResponse {
    respond(
        StatusCode::OK,
        AuthResponse {
            success: true,
            message: message.into(),
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            user: session.user,
        },
    )
}

#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body(content((RegisterRequest = "application/json"), (RegisterRequest = "application/x-www-form-urlencoded"), (RegisterRequest = "multipart/form-data"))), responses((status = 200, body = AuthResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "User Name is already taken", body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse), (status = 429, body = ErrorResponse), (status = 503, description = "Password hashing saturated", body = ErrorResponse)))]
pub async fn register(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.accounts.admit(state.client_addr(&req)).await?;
    let form = read_form(&req, payload, &state, &[FileRule::avatar(&state.config)]).await?;
    let fields: RegisterFields = form.parse()?;
    let registration = Registration {
        nick_name: fields.nick_name,
        user_name: fields.user_name,
        password: fields.password,
        confirm_password: fields.confirm_password,
        avatar: form.files.into_iter().next().map(|(_, upload)| upload),
        user_agent: super::sessions::user_agent(&req),
    };
    let registered = state.accounts.register(registration).await?;
    Ok(session("Register Successfully", registered))
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body(content((LoginRequest = "application/json"), (LoginRequest = "application/x-www-form-urlencoded"), (LoginRequest = "multipart/form-data"))), responses((status = 200, body = AuthResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "userName not Found / userName or password is incorrect", body = ErrorResponse), (status = 429, body = ErrorResponse), (status = 503, description = "Password hashing saturated", body = ErrorResponse)))]
pub async fn login(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client = state.client_addr(&req);
    state.accounts.admit(client).await?;
    let form = read_form(&req, payload, &state, &[]).await?;
    let fields: LoginFields = form.parse()?;
    let logged_in = state
        .accounts
        .login(
            fields.user_name,
            fields.password,
            client,
            super::sessions::user_agent(&req),
        )
        .await?;
    Ok(session("Login Successfully", logged_in))
}

#[utoipa::path(get, path = "/auth", tag = "auth", security(("bearer" = [])), responses((status = 200, body = UserResponse), (status = 401, description = "No token, invalid token, or user gone", body = ErrorResponse)))]
pub async fn check(auth: AuthUser) -> HttpResponse {
    respond(
        StatusCode::OK,
        UserResponse {
            success: true,
            message: "Authenticate Successfully".into(),
            user: auth.user,
        },
    )
}
