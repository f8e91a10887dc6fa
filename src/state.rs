//! What every handler shares, built once by `Application::build`.

use std::sync::Arc;

use crate::auth::jwt::Jwt;
use crate::chat::Chat;
use crate::config::Config;
use crate::db::Db;
use crate::limits::Limits;
use crate::storage::Storage;

pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub jwt: Jwt,
    pub storage: Storage,
    pub limits: Arc<Limits>,
    pub chat: Chat,
}
