//! What every handler shares, built once by `Application::build`: the settings, the upload
//! storage the body reader streams into, and the two services. Handlers reach data only
//! through the services.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::HttpRequest;

use crate::config::Config;
use crate::services::accounts::Accounts;
use crate::services::chat::Chat;
use crate::storage::Storage;

pub struct AppState {
    pub config: Arc<Config>,
    pub storage: Storage,
    pub accounts: Accounts,
    pub chat: Chat,
    /// `/openapi.json`, made once at start-up from both faces' route descriptions.
    pub openapi_json: String,
    /// `/asyncapi.json`: the WebSocket protocol, made once at start-up from the frame types.
    pub asyncapi_json: String,
}

impl AppState {
    /// The client address limits count by (see [`super::client_addr::client_addr`]).
    pub fn client_addr(&self, req: &HttpRequest) -> Option<IpAddr> {
        super::client_addr::client_addr(req, self.config.trust_proxy)
    }
}
