//! The Bearer token of a request, and the [`AuthUser`] extractor that authenticates it through
//! the accounts service.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use super::error::ApiError;
use super::state::AppState;
pub use crate::services::accounts::AuthUser;

/// Where a token may come from: the header always, `?token=` only where browsers need it (/ws).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Header,
    HeaderOrQuery,
}

fn bearer_token(headers: &HeaderMap, query: &str, source: TokenSource) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?.trim();
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
            .filter(|t| !t.is_empty());
    }
    if source == TokenSource::HeaderOrQuery {
        if let Some(token) = subprotocol_token(headers) {
            return Some(token);
        }
        let query = web::Query::<Vec<(String, String)>>::from_query(query).ok()?;
        return query
            .0
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v)
            .filter(|t| !t.is_empty());
    }
    None
}

/// A browser passes its token as a WebSocket subprotocol next to `chat` (`new WebSocket(url,
/// ["chat", "bearer.<token>"])`; the 101 names `chat`): the token stays out of the URL, which
/// browsers print in their console whenever a connection fails.
const WS_TOKEN_PREFIX: &str = "bearer.";

fn subprotocol_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(WS_TOKEN_PREFIX).map(str::to_owned))
        .filter(|t| !t.is_empty())
}

pub async fn authenticate(req: &HttpRequest, source: TokenSource) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(ApiError::internal)?;
    authenticate_parts(state, req.headers(), req.query_string(), source).await
}

/// [`authenticate`] from the parts of a request, for `/ws` upgrades that bypass the router.
pub async fn authenticate_parts(
    state: &AppState,
    headers: &HeaderMap,
    query: &str,
    source: TokenSource,
) -> Result<AuthUser, ApiError> {
    let token = bearer_token(headers, query, source);
    Ok(state.accounts.authenticate(token).await?)
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req, TokenSource::Header).await })
    }
}
