//! GET /ws: authentication before the upgrade, then one task per connection.

pub mod connection;
pub mod protocol;

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::{authenticate, TokenSource};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    pub max_frame_bytes: usize,
    pub queue_frames: usize,
    pub ping_every: Duration,
    pub idle_after: Duration,
}

#[utoipa::path(get, path = "/ws", tag = "realtime", params(("token" = Option<String>, Query, description = "the access token, for browsers that cannot set headers")), security(("bearer" = [])), responses((status = 101, description = "Switching Protocols: the chat WebSocket (docs/PROTOCOL.md)"), (status = 401, description = "No token, invalid token, or user gone", body = crate::http::schemas::ErrorResponse), (status = 429, description = "Too many connections for this user", body = crate::http::schemas::ErrorResponse)))]
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&req, TokenSource::HeaderOrQuery).await?;
    if state.chat.registry().connections_of(auth.user.id) as u64
        >= state.config.max_connections_per_user
    {
        return Err(
            ApiError::rate_limited(5).with_message("Too many open connections for this user")
        );
    }
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::validation(format!("WebSocket handshake failed: {e}")))?;
    let settings = WsSettings {
        max_frame_bytes: state.config.max_frame_bytes,
        queue_frames: state.config.ws_queue_frames as usize,
        ping_every: Duration::from_secs(state.config.ws_ping_secs),
        idle_after: Duration::from_secs(state.config.ws_idle_secs),
    };
    let chat = state.chat.clone();
    actix_web::rt::spawn(connection::run(chat, auth, session, stream, settings));
    Ok(response)
}
