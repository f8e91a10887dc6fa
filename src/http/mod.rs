//! Thin actix handlers; each parses, calls a service, and answers in the contract's envelope.

pub mod auth;
pub mod form;
pub mod service;
pub mod threads;
pub mod uploads;
pub mod users;

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, Route};
use serde::Serialize;
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};

/// `{success: true, message, ...fields}`.
pub fn respond(status: StatusCode, message: &str, fields: Value) -> HttpResponse {
    let mut body = serde_json::Map::new();
    body.insert("success".into(), Value::Bool(true));
    body.insert("message".into(), Value::String(message.into()));
    if let Value::Object(fields) = fields {
        body.extend(fields);
    }
    HttpResponse::build(status).json(Value::Object(body))
}

pub fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        format!("Method {} is not allowed on {}", req.method(), req.path()),
    ))
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "No route for {} {}",
        req.method(),
        req.path()
    )))
}

/// A resource whose other methods answer 405 in our envelope.
fn resource(path: &str, routes: Vec<(Method, Route)>) -> actix_web::Resource {
    let mut resource = web::resource(path).default_service(web::to(method_not_allowed));
    for (method, route) in routes {
        resource = resource.route(route.method(method));
    }
    resource
}

/// Every HTTP route of the contract (the WebSocket and static files are mounted by `lib.rs`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/auth/register",
        vec![(Method::POST, web::route().to(auth::register))],
    ))
    .service(resource(
        "/auth/login",
        vec![(Method::POST, web::route().to(auth::login))],
    ))
    .service(resource(
        "/auth",
        vec![(Method::GET, web::route().to(auth::check))],
    ))
    .service(resource(
        "/users",
        vec![(Method::GET, web::route().to(users::search))],
    ))
    .service(resource(
        "/users/me",
        vec![(Method::PATCH, web::route().to(users::update_me))],
    ))
    .service(resource(
        "/users/{id}",
        vec![(Method::GET, web::route().to(users::get))],
    ))
    .service(resource(
        "/threads",
        vec![
            (Method::GET, web::route().to(threads::list)),
            (Method::POST, web::route().to(threads::create)),
        ],
    ))
    .service(resource(
        "/threads/{id}",
        vec![(Method::GET, web::route().to(threads::get))],
    ))
    .service(resource(
        "/threads/{id}/members",
        vec![(Method::POST, web::route().to(threads::add_member))],
    ))
    .service(resource(
        "/threads/{id}/members/{user_id}",
        vec![(Method::DELETE, web::route().to(threads::remove_member))],
    ))
    .service(resource(
        "/threads/{id}/messages",
        vec![
            (Method::GET, web::route().to(threads::messages)),
            (Method::POST, web::route().to(threads::post_message)),
        ],
    ))
    .service(resource(
        "/uploads/{kind}/{name}",
        vec![(Method::GET, web::route().to(uploads::serve))],
    ))
    .service(resource(
        "/healthz",
        vec![(Method::GET, web::route().to(service::healthz))],
    ))
    .service(resource(
        "/metrics",
        vec![(Method::GET, web::route().to(service::metrics))],
    ))
    .service(resource(
        "/openapi.json",
        vec![(Method::GET, web::route().to(service::openapi))],
    ));
}

/// Extractor failures (query strings, path segments) in the contract's envelope.
pub fn extractor_configs(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _| {
        ApiError::validation(format!("Invalid query string: {err}")).into()
    }))
    .app_data(web::PathConfig::default().error_handler(|err, _| {
        ApiError::validation(format!("Invalid path parameter: {err}")).into()
    }))
    .app_data(
        web::JsonConfig::default()
            .error_handler(|err, _| ApiError::validation(format!("Invalid JSON: {err}")).into()),
    );
}
