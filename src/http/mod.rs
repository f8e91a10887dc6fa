//! Thin actix handlers; each parses, calls a service, and answers in the contract's envelope.

pub mod auth;
pub mod client_addr;
pub mod error;
pub mod extract;
pub mod form;
pub mod messages;
pub mod schemas;
pub mod search;
pub mod service;
pub mod sessions;
pub mod stall;
pub mod state;
pub mod stream;
pub mod threads;
pub mod uploads;
pub mod users;

use std::time::Instant;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError, Route};
use serde::Serialize;

use crate::http::error::{ApiError, ErrorCode};

/// A success response: one of the typed bodies in [`schemas`].
pub fn respond<T: Serialize>(status: StatusCode, body: T) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// Content-Security-Policy of the browser client: everything from this origin, nothing else.
const PAGE_CSP: &str =
    "default-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; \
                        style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; \
                        frame-ancestors 'none'; base-uri 'none'";

/// Headers on every response.
pub const DEFAULT_HEADERS: [(HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// For responses written outside the middleware stack (refused WebSocket upgrades).
pub fn add_default_headers(headers: &mut HeaderMap) {
    for (name, value) in DEFAULT_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// The access log line and the request metrics, for every request however it was served.
pub fn record_request(method: &Method, path: &str, route: &str, status: u16, started: Instant) {
    let elapsed = started.elapsed();
    metrics::counter!("http_requests_total", "method" => method.to_string(), "route" => route.to_owned(), "status" => status.to_string()).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method.to_string(), "route" => route.to_owned()).record(elapsed.as_secs_f64());
    // the path only: a `?token=` query never reaches the log
    tracing::info!(%method, %path, status, latency_ms = elapsed.as_secs_f64() * 1000.0, "request");
}

/// 405 in our envelope, with the `Allow` header RFC 9110 asks for.
pub fn method_not_allowed(method: &Method, path: &str, allow: &HeaderValue) -> HttpResponse {
    let mut response = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("Method {method} is not allowed on {path}"),
    )
    .error_response();
    response.headers_mut().insert(header::ALLOW, allow.clone());
    response
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "No route for {} {}",
        req.method(),
        req.path()
    )))
}

/// A resource whose other methods answer 405 in our envelope.
pub fn resource(path: &str, routes: Vec<(Method, Route)>) -> actix_web::Resource {
    let methods: Vec<&str> = routes.iter().map(|(method, _)| method.as_str()).collect();
    let allow = HeaderValue::from_str(&methods.join(", ")).unwrap_or(HeaderValue::from_static(""));
    let mut resource = web::resource(path).default_service(web::to(move |req: HttpRequest| {
        let response = method_not_allowed(req.method(), req.path(), &allow);
        async move { response }
    }));
    for (method, route) in routes {
        resource = resource.route(route.method(method));
    }
    resource
}

/// Every HTTP route: (path, [(method, handler)]). Registered from here, and checked against
/// /openapi.json by a test, so the document cannot leave a route out.
/// Every HTTP route of this face; `/ws` is the WebSocket face's ([`crate::ws::route_table`]).
pub fn route_table() -> Vec<RouteEntry> {
    let get = |route: Route| (Method::GET, route);
    let post = |route: Route| (Method::POST, route);
    vec![
        (
            "/auth/register",
            vec![post(web::route().to(auth::register))],
        ),
        ("/auth/login", vec![post(web::route().to(auth::login))]),
        ("/auth", vec![get(web::route().to(auth::check))]),
        (
            "/auth/refresh",
            vec![post(web::route().to(sessions::refresh))],
        ),
        (
            "/auth/logout",
            vec![post(web::route().to(sessions::logout))],
        ),
        (
            "/auth/sessions",
            vec![
                get(web::route().to(sessions::list)),
                (Method::DELETE, web::route().to(sessions::end_others)),
            ],
        ),
        (
            "/auth/sessions/{id}",
            vec![(Method::DELETE, web::route().to(sessions::end_one))],
        ),
        (
            "/auth/password",
            vec![post(web::route().to(sessions::change_password))],
        ),
        ("/users", vec![get(web::route().to(users::search))]),
        (
            "/users/me",
            vec![(Method::PATCH, web::route().to(users::update_me))],
        ),
        ("/users/{id}", vec![get(web::route().to(users::get))]),
        (
            "/threads",
            vec![
                get(web::route().to(threads::list)),
                post(web::route().to(threads::create)),
            ],
        ),
        (
            "/threads/{id}",
            vec![
                get(web::route().to(threads::get)),
                (Method::PATCH, web::route().to(threads::rename)),
            ],
        ),
        (
            "/threads/{id}/members",
            vec![post(web::route().to(threads::add_member))],
        ),
        (
            "/threads/{id}/members/{user_id}",
            vec![(Method::DELETE, web::route().to(threads::remove_member))],
        ),
        (
            "/threads/{id}/messages",
            vec![
                get(web::route().to(messages::list)),
                post(web::route().to(messages::post)),
            ],
        ),
        (
            "/threads/{id}/messages/{message_id}",
            vec![
                get(web::route().to(messages::get)),
                (Method::PATCH, web::route().to(messages::edit)),
                (Method::DELETE, web::route().to(messages::delete)),
            ],
        ),
        (
            "/threads/{id}/messages/{message_id}/reactions/{emoji}",
            vec![
                (Method::PUT, web::route().to(messages::add_reaction)),
                (Method::DELETE, web::route().to(messages::remove_reaction)),
            ],
        ),
        (
            "/search/messages",
            vec![get(web::route().to(search::messages))],
        ),
        (
            "/uploads/{kind}/{name}",
            vec![get(web::route().to(uploads::serve))],
        ),
        ("/healthz", vec![get(web::route().to(service::healthz))]),
        ("/metrics", vec![get(web::route().to(service::metrics))]),
        (
            "/openapi.json",
            vec![get(web::route().to(service::openapi))],
        ),
        (
            "/asyncapi.json",
            vec![get(web::route().to(service::asyncapi))],
        ),
    ]
}

/// One path, its methods and their handlers.
pub type RouteEntry = (&'static str, Vec<(Method, Route)>);

/// Registers routes (both faces', see `lib.rs`; static files are mounted there too).
pub fn register(cfg: &mut web::ServiceConfig, table: Vec<RouteEntry>) {
    for (path, methods) in table {
        cfg.service(resource(path, methods));
    }
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
