//! `/ws`: authentication before the upgrade, then one task per connection.
//!
//! WebSocket upgrade requests do not reach the actix-web router: actix's HTTP/1 dispatcher hands
//! the connection itself to [`serve_upgrade`] (see `lib.rs`), which admits or refuses it in the
//! contract's envelope and then serves the socket from that same task, with no HTTP machinery
//! left attached to it. A plain `GET /ws` still goes through the router, to [`upgrade_required`].

pub mod connection;
pub mod protocol;
pub mod transport;

use std::time::{Duration, Instant};

use actix_http::body::BoxBody;
use actix_http::{Method, Request, Response};
use actix_web::http::header::HeaderValue;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::config::Config;
use crate::http::error::ApiError;
use crate::http::extract::{authenticate, authenticate_parts, AuthUser, TokenSource};
use crate::http::state::AppState;
use crate::http::stream::HttpStream;
use crate::registry::Slot;

pub const PATH: &str = "/ws";

/// The one HTTP route of this face: a `GET /ws` that is not an upgrade (upgrades never reach the
/// router, see [`serve_upgrade`]).
pub fn route_table() -> Vec<crate::http::RouteEntry> {
    vec![(
        "/ws",
        vec![(Method::GET, web::route().to(upgrade_required))],
    )]
}

#[utoipa::path(get, path = "/ws", tag = "realtime", params(("token" = Option<String>, Query, description = "the access token, for browsers that cannot set headers")), security(("bearer" = [])), responses((status = 101, description = "Switching Protocols: the chat WebSocket (docs/PROTOCOL.md)"), (status = 400, description = "Not a WebSocket upgrade request", body = crate::http::schemas::ErrorResponse), (status = 401, description = "No token, invalid token, or user gone", body = crate::http::schemas::ErrorResponse), (status = 429, description = "Too many connections for this user", body = crate::http::schemas::ErrorResponse)))]
/// A `GET /ws` without the upgrade headers: the same checks, in the same order, as an upgrade.
pub async fn upgrade_required(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&req, TokenSource::HeaderOrQuery).await?;
    // the slot is given back at once: this request never becomes a connection
    drop(admit_user(&state, &auth)?);
    actix_http::ws::verify_handshake(req.head()).map_err(handshake_error)?;
    // unreachable in practice: requests with the upgrade headers never come through the router
    Err(ApiError::validation(
        "WebSocket handshake failed: not an upgrade",
    ))
}

fn handshake_error(err: actix_http::ws::HandshakeError) -> ApiError {
    ApiError::validation(format!("WebSocket handshake failed: {err}"))
}

/// Takes one of the user's connection slots, held by the connection until its task ends.
fn admit_user(state: &AppState, auth: &AuthUser) -> Result<Slot, ApiError> {
    Ok(state.chat.admit_connection(auth.user.id)?)
}

/// The connection layer's settings, from the configuration.
pub fn transport_limits(config: &Config) -> transport::Limits {
    transport::Limits {
        max_message_bytes: config.max_frame_bytes,
        ping_every: Duration::from_secs(config.ws_ping_secs),
        idle_after: Duration::from_secs(config.ws_idle_secs),
        write_stall: Duration::from_secs(config.ws_idle_secs),
        coalesce: Duration::from_millis(config.ws_coalesce_ms),
    }
}

/// Every HTTP/1 request that asks for a WebSocket upgrade, whatever its path, comes here with its
/// connection; the connection ends when this returns.
pub async fn serve_upgrade(
    state: web::Data<AppState>,
    req: Request,
    upgraded: transport::Upgraded<HttpStream>,
) {
    let started = Instant::now();
    let route = if req.path() == PATH {
        PATH
    } else {
        "unmatched"
    };
    let (auth, slot) = match admit(&state, &req).await {
        Ok(admitted) => admitted,
        Err(response) => {
            let status = response.status().as_u16();
            crate::http::record_request(req.method(), req.path(), route, status, started);
            let mut response: Response<BoxBody> = response.into();
            crate::http::add_default_headers(response.headers_mut());
            transport::refuse(upgraded, response).await;
            return;
        }
    };
    let socket = match transport::accept(&req, upgraded, transport_limits(&state.config)).await {
        Ok(socket) => socket,
        Err(err) => {
            tracing::debug!(error = %err, "WebSocket handshake reply not delivered");
            return;
        }
    };
    crate::http::record_request(req.method(), req.path(), route, 101, started);
    let settings = connection::ConnSettings {
        queue_frames: state.config.ws_queue_frames as usize,
        queue_bytes: usize::try_from(state.config.ws_queue_bytes).unwrap_or(usize::MAX),
    };
    // A task of its own rather than the rest of this one: the HTTP dispatcher's task (sized for
    // any request it may serve) and the request with its headers are freed now, not held for
    // the socket's whole life.
    drop(req);
    actix_web::rt::spawn(connection::run(
        state.chat.clone(),
        state.accounts.clone(),
        auth,
        slot,
        socket,
        settings,
    ));
}

/// The checks of [`upgrade_required`], answered with the response to refuse with.
async fn admit(state: &AppState, req: &Request) -> Result<(AuthUser, Slot), HttpResponse> {
    if req.path() != PATH {
        let message = format!("No route for {} {}", req.method(), req.path());
        return Err(ApiError::not_found(message).error_response());
    }
    if req.method() != Method::GET {
        let allow = HeaderValue::from_static("GET");
        return Err(crate::http::method_not_allowed(
            req.method(),
            req.path(),
            &allow,
        ));
    }
    let query = req.uri().query().unwrap_or("");
    let auth = authenticate_parts(
        state,
        &req.head().headers,
        query,
        TokenSource::HeaderOrQuery,
    )
    .await
    .map_err(|e| e.error_response())?;
    let slot = admit_user(state, &auth).map_err(|e| e.error_response())?;
    transport::verify(req).map_err(|e| handshake_error(e).error_response())?;
    Ok((auth, slot))
}
