//! Login sessions as stored, and their public shape in `GET /auth/sessions`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use super::serialize_time;
use crate::db::schema::{sessions, spent_refresh_tokens};
use crate::domain::ids::{SessionId, UserId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: SessionId,
    pub user_id: UserId,
    pub refresh_issued_at: NaiveDateTime,
    pub user_agent: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub user_id: UserId,
    pub refresh_hash: &'a str,
    pub refresh_issued_at: NaiveDateTime,
    pub user_agent: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = spent_refresh_tokens)]
pub struct SpentRefreshToken<'a> {
    pub token_hash: &'a str,
    pub session_id: SessionId,
    pub spent_at: NaiveDateTime,
}

fn serialize_sid<S: Serializer>(id: &SessionId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

/// One of the caller's live sessions, as `GET /auth/sessions` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The session's `sid`, a string.
    #[serde(serialize_with = "serialize_sid")]
    #[schema(value_type = String)]
    pub id: SessionId,
    #[serde(serialize_with = "serialize_time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
    /// Its last login or refresh.
    #[serde(serialize_with = "serialize_time")]
    #[schema(value_type = String, format = DateTime)]
    pub last_used_at: NaiveDateTime,
    /// As sent at login, cut to 200 characters.
    pub user_agent: Option<String>,
    /// Whether this is the session of the token that asked.
    pub current: bool,
}
