//! GET /ws: authentication before the upgrade, then one task per connection.

pub mod connection;
pub mod protocol;
pub mod transport;

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::{authenticate, TokenSource};
use crate::error::ApiError;
use crate::state::AppState;

#[utoipa::path(get, path = "/ws", tag = "realtime", params(("token" = Option<String>, Query, description = "the access token, for browsers that cannot set headers")), security(("bearer" = [])), responses((status = 101, description = "Switching Protocols: the chat WebSocket (docs/PROTOCOL.md)"), (status = 400, description = "Not a WebSocket upgrade request", body = crate::http::schemas::ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = crate::http::schemas::ErrorResponse), (status = 429, description = "Too many connections for this user", body = crate::http::schemas::ErrorResponse)))]
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
    let limits = transport::Limits {
        max_message_bytes: state.config.max_frame_bytes,
        ping_every: Duration::from_secs(state.config.ws_ping_secs),
        idle_after: Duration::from_secs(state.config.ws_idle_secs),
    };
    let (response, session, inbound) = transport::accept(&req, body, limits)
        .map_err(|e| ApiError::validation(format!("WebSocket handshake failed: {e}")))?;
    let settings = connection::ConnSettings {
        queue_frames: state.config.ws_queue_frames as usize,
        coalesce: Duration::from_millis(state.config.ws_coalesce_ms),
        write_stall: Duration::from_secs(state.config.ws_idle_secs),
    };
    let chat = state.chat.clone();
    actix_web::rt::spawn(connection::run(chat, auth, session, inbound, settings));
    Ok(response)
}
