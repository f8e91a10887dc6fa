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
