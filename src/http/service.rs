//! GET /healthz, GET /metrics, GET /openapi.json, GET /asyncapi.json.

use std::sync::OnceLock;

use actix_web::{http::StatusCode, web, HttpResponse};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::http::state::AppState;

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            // counted only on rare events: present from the start, so a dashboard's rate()
            // and an alert see 0 rather than no series
            for name in [
                "ws_slow_consumer_closes_total",
                "relay_dropped_events_total",
            ] {
                metrics::counter!(name).absolute(0);
            }
            Some(handle)
        })
        .as_ref()
}

#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, description = "Database (and relay) state", body = Object), (status = 503, description = "Database unavailable", body = Object)))]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let db_ok = state.chat.database_ok().await;
    let relay = state.chat.relay_status();
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "success": db_ok,
        "message": if db_ok { "OK" } else { "Database unavailable" },
        "status": if db_ok { "ok" } else { "degraded" },
        "database": { "kind": state.chat.database_kind(), "ok": db_ok },
        "relay": relay,
        "connections": state.chat.registry().total_connections(),
        "version": env!("CARGO_PKG_VERSION"),
        // what uploads may weigh, so the browser client refuses a file before sending it
        "limits": {
            "maxAttachmentBytes": state.config.max_attachment_bytes,
            "maxAvatarBytes": state.config.max_avatar_bytes,
            "maxAttachments": crate::http::messages::MAX_ATTACHMENTS,
            "maxTextChars": crate::domain::validate::MAX_TEXT_CHARS,
        },
    });
    HttpResponse::build(status).json(body)
}

#[utoipa::path(get, path = "/metrics", tag = "service", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    metrics::gauge!("db_pool_connections_in_use")
        .set(f64::from(state.chat.database_connections_in_use()));
    let registry = state.chat.registry();
    metrics::gauge!("ws_queued_frames").set(registry.queued_frames() as f64);
    metrics::gauge!("ws_connection_tasks").set(registry.running_tasks() as f64);
    let relay = state.chat.relay_status();
    // kind="none" (one node) is always up; kind="redis" is 0 while Redis is unreachable
    let relay_kind = relay["kind"].as_str().unwrap_or("none").to_owned();
    let relay_up = if relay["ok"] == true { 1.0 } else { 0.0 };
    metrics::gauge!("relay_up", "kind" => relay_kind).set(relay_up);
    // which node this is: Prometheus adds `instance`, this ties it to the relay's node id
    let node = relay["node"].as_str().unwrap_or("single").to_owned();
    metrics::gauge!("chat_node_info", "node" => node, "database" => state.chat.database_kind())
        .set(1.0);
    let body = prometheus().map(|h| h.render()).unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}

#[utoipa::path(get, path = "/openapi.json", tag = "service", responses((status = 200, description = "This document", body = Object)))]
pub async fn openapi(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi_json.clone())
}

#[utoipa::path(get, path = "/asyncapi.json", tag = "service", responses((status = 200, description = "The AsyncAPI 3 document of the WebSocket at /ws: every frame, its schema and examples, the error and close codes", body = Object)))]
pub async fn asyncapi(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.asyncapi_json.clone())
}
