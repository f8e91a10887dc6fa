//! The OpenAPI 3 description served at /openapi.json, generated from the handlers' annotations
//! and the very structs they send.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chat-server",
        description = "Chat backend: auth, users, threads, messages. Real time is the WebSocket at GET /ws \
                       (see docs/PROTOCOL.md): authenticate with `Authorization: Bearer` or `?token=`."
    ),
    paths(
        http::auth::register,
        http::auth::login,
        http::auth::check,
        http::sessions::refresh,
        http::sessions::logout,
        http::sessions::list,
        http::sessions::end_one,
        http::sessions::end_others,
        http::sessions::change_password,
        http::users::search,
        http::users::update_me,
        http::users::get,
        http::threads::list,
        http::threads::create,
        http::threads::get,
        http::threads::rename,
        http::threads::add_member,
        http::threads::remove_member,
        http::messages::list,
        http::messages::post,
        http::messages::get,
        http::messages::edit,
        http::messages::delete,
        http::messages::add_reaction,
        http::messages::remove_reaction,
        http::search::messages,
        http::uploads::serve,
        http::service::healthz,
        http::service::metrics,
        http::service::openapi,
        http::service::asyncapi,
        crate::ws::upgrade_required,
    ),
    modifiers(&BearerAuth, &FieldPatterns)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The field rules' patterns, made at start-up from the checks' own predicates (an attribute
/// holds only a literal, which could drift from the predicate).
struct FieldPatterns;

impl Modify for FieldPatterns {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use crate::domain::patterns;
        use utoipa::openapi::{RefOr, Schema};
        let (text, name) = (patterns::message_text(), patterns::display_name());
        let fields: [(&str, &str, &String); 6] = [
            ("RegisterRequest", "nickName", &name),
            ("UpdateMeRequest", "nickName", &name),
            ("GroupThreadRequest", "name", &name),
            ("RenameThreadRequest", "name", &name),
            ("PostMessageRequest", "text", &text),
            ("EditMessageRequest", "text", &text),
        ];
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for (component, field, pattern) in fields {
            let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(component)
            else {
                continue;
            };
            if let Some(RefOr::T(Schema::Object(property))) = object.properties.get_mut(field) {
                property.pattern = Some(pattern.clone());
            }
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    fn all_routes() -> Vec<crate::http::RouteEntry> {
        let mut routes = crate::http::route_table();
        routes.extend(crate::ws::route_table());
        routes
    }

    #[test]
    fn every_registered_route_is_described() {
        let doc = serde_json::to_value(super::document()).unwrap_or_default();
        for (path, methods) in all_routes() {
            for (method, _) in methods {
                let op = method.as_str().to_ascii_lowercase();
                assert!(
                    doc["paths"][path][&op].is_object(),
                    "{method} {path} is missing from /openapi.json"
                );
            }
        }
        let described = doc["paths"].as_object().map_or(0, |p| p.len());
        assert_eq!(described, all_routes().len(), "no path without a route");
    }
}
