//! The seed's three auth routes, byte-for-byte: POST /auth/register, POST /auth/login, GET /auth.

use super::schemas::{AuthResponse, ErrorResponse, LoginRequest, RegisterRequest, UserResponse};
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::client_addr::client_addr;
use super::form::{read_form, FileRule};
use super::respond;
use crate::auth::{password, AuthUser};
use crate::db::{models, queries};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::storage::{sniff_image, Kind};
use crate::validate;

pub const MSG_USERNAME_TAKEN: &str = "User Name is already taken";
pub const MSG_USERNAME_NOT_FOUND: &str = "userName not Found";
pub const MSG_WRONG_PASSWORD: &str = "userName or password is incorrect";

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

fn required(value: Option<String>, field: &str) -> Result<String, ApiError> {
    value.ok_or_else(|| ApiError::validation(format!("{field} is required")))
}

/// A hashing failure as the client sees it: 503 when the queue is full, else 500.
fn hashing_error(e: password::PasswordError) -> ApiError {
    match e {
        password::PasswordError::Busy(retry_after) => ApiError::unavailable(
            retry_after,
            "Too many password checks at once, try again later",
        ),
        password::PasswordError::Failed(_) => {
            tracing::error!(error = %e, "bcrypt failed");
            ApiError::internal()
        }
    }
}

fn taken() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::UsernameTaken,
        MSG_USERNAME_TAKEN,
    )
}

#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body(content((RegisterRequest = "application/json"), (RegisterRequest = "application/x-www-form-urlencoded"), (RegisterRequest = "multipart/form-data"))), responses((status = 200, body = AuthResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "User Name is already taken", body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse), (status = 429, body = ErrorResponse), (status = 503, description = "Password hashing saturated", body = ErrorResponse)))]
pub async fn register(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let addr = client_addr(&req, state.config.trust_proxy);
    state
        .limits
        .check_auth_request(addr)
        .await
        .map_err(|r| ApiError::rate_limited(r.0))?;
    let avatar_rule = FileRule {
        field: "avatar",
        max_bytes: state.config.max_avatar_bytes,
        max_count: 1,
    };
    let form = read_form(&req, payload, &state, &[avatar_rule]).await?;
    let fields: RegisterFields = form.parse()?;
    let nick_name = required(fields.nick_name, "nickName")?;
    let user_name = required(fields.user_name, "userName")?;
    let password = required(fields.password, "password")?;
    let confirm = required(fields.confirm_password, "confirmPassword")?;
    let nick_name = validate::nick_name(&nick_name).map_err(ApiError::validation)?;
    validate::user_name(&user_name).map_err(ApiError::validation)?;
    validate::password(&password).map_err(ApiError::validation)?;
    if confirm != password {
        return Err(ApiError::validation("confirmPassword must match password"));
    }
    let avatar = form.files.into_iter().next().map(|(_, upload)| upload);
    let avatar_type = match &avatar {
        Some(upload) => Some(sniff_image(&upload.head).ok_or_else(|| {
            ApiError::unsupported_media("avatar must be a PNG, JPEG, GIF or WebP image")
        })?),
        None => None,
    };

    let key = user_name.to_ascii_lowercase();
    let lookup_key = key.clone();
    // Refuse a taken name before spending a bcrypt hash on it; the unique index decides races.
    if state
        .db
        .run(move |c| queries::find_user_row_by_key(c, &lookup_key))
        .await?
        .is_some()
    {
        return Err(taken());
    }
    let hash = state
        .limits
        .hashing
        .hash(password, state.config.bcrypt_cost)
        .await
        .map_err(hashing_error)?;
    let stored = match (avatar, avatar_type) {
        (Some(upload), Some((ext, content_type))) => Some(
            state
                .storage
                .persist(upload, Kind::Avatars, ext, content_type)
                .await?,
        ),
        _ => None,
    };
    let avatar_url = stored.as_ref().map(|s| s.url.clone());
    let inserted = state
        .db
        .run(move |c| {
            queries::insert_user(
                c,
                &models::NewUser {
                    user_name: &user_name,
                    user_name_key: &key,
                    nick_name: &nick_name,
                    password_hash: &hash,
                    avatar_url: avatar_url.as_deref(),
                    created_at: models::now(),
                },
            )
        })
        .await;
    // On any failure `stored` is dropped here and its file deleted: no orphan on disk.
    let user = match inserted {
        Ok(user) => user,
        Err(e) if e.is_unique_violation() => return Err(taken()),
        Err(e) => return Err(e.into()),
    };
    if let Some(file) = stored {
        file.keep();
    }
    let token = state.jwt.issue(user.id).map_err(|_| ApiError::internal())?;
    Ok(respond(
        StatusCode::OK,
        AuthResponse {
            success: true,
            message: "Register Successfully".into(),
            access_token: token,
            user,
        },
    ))
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body(content((LoginRequest = "application/json"), (LoginRequest = "application/x-www-form-urlencoded"), (LoginRequest = "multipart/form-data"))), responses((status = 200, body = AuthResponse), (status = 400, description = "Validation failed", body = ErrorResponse), (status = 401, description = "userName not Found / userName or password is incorrect", body = ErrorResponse), (status = 429, body = ErrorResponse), (status = 503, description = "Password hashing saturated", body = ErrorResponse)))]
pub async fn login(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let addr = client_addr(&req, state.config.trust_proxy);
    state
        .limits
        .check_auth_request(addr)
        .await
        .map_err(|r| ApiError::rate_limited(r.0))?;
    let form = read_form(&req, payload, &state, &[]).await?;
    let fields: LoginFields = form.parse()?;
    let user_name = required(fields.user_name, "userName")?;
    let password = required(fields.password, "password")?;
    let key = user_name.to_ascii_lowercase();
    state
        .limits
        .check_failed_logins(&key, addr)
        .await
        .map_err(|r| ApiError::rate_limited(r.0))?;
    let lookup_key = key.clone();
    let row = state
        .db
        .run(move |c| queries::find_user_row_by_key(c, &lookup_key))
        .await?;
    let cost = state.config.bcrypt_cost;
    let Some(row) = row else {
        state
            .limits
            .hashing
            .verify_dummy(password, cost)
            .await
            .map_err(hashing_error)?;
        state.limits.record_failed_login(&key, addr).await;
        return Err(ApiError::unauthorized(MSG_USERNAME_NOT_FOUND));
    };
    if !state
        .limits
        .hashing
        .verify(password, row.password_hash.clone())
        .await
        .map_err(hashing_error)?
    {
        state.limits.record_failed_login(&key, addr).await;
        return Err(ApiError::unauthorized(MSG_WRONG_PASSWORD));
    }
    let user = models::User::from(row);
    let token = state.jwt.issue(user.id).map_err(|_| ApiError::internal())?;
    Ok(respond(
        StatusCode::OK,
        AuthResponse {
            success: true,
            message: "Login Successfully".into(),
            access_token: token,
            user,
        },
    ))
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
