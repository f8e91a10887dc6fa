//! The OpenAPI 3 description served at /openapi.json.

pub fn document() -> serde_json::Value {
    serde_json::json!({ "openapi": "3.1.0", "info": { "title": "chat-server", "version": env!("CARGO_PKG_VERSION") }, "paths": {} })
}
