//! Rows as stored, and the public shapes the contract gives them.

use chrono::{NaiveDateTime, SecondsFormat};
use diesel::prelude::*;
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use super::schema::{attachments, messages, reactions, thread_members, threads, users};
use crate::domain::feed::Seq;
use crate::domain::ids::{MessageId, ThreadId, UserId};

mod sessions;
pub use sessions::*;

/// Times are stored as naive UTC and sent as RFC 3339 with a `Z`.
pub fn serialize_time<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true))
}

pub fn serialize_optional_time<S: Serializer>(
    t: &Option<NaiveDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize_time(t, s),
        None => s.serialize_none(),
    }
}

pub fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: UserId,
    pub user_name: String,
    pub user_name_key: String,
    pub nick_name: String,
    pub password_hash: String,
    pub avatar_url: Option<String>,
    pub created_at: NaiveDateTime,
    pub avatar_thumb_url: Option<String>,
    /// Set by an operator (`chat-server users disable`): no login until enabled again.
    pub disabled_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub user_name: &'a str,
    pub user_name_key: &'a str,
    pub nick_name: &'a str,
    pub password_hash: &'a str,
    pub avatar_url: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub avatar_thumb_url: Option<&'a str>,
}

/// The public user object: never carries the password hash.
#[derive(Debug, Clone, Serialize, Queryable, Selectable, PartialEq, Eq, ToSchema)]
#[diesel(table_name = users)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub user_name: String,
    pub nick_name: String,
    pub avatar_url: Option<String>,
    /// The avatar at most 128 px on its longer side (or the avatar itself when that small);
    /// null without an avatar or when it could not be decoded.
    pub avatar_thumb_url: Option<String>,
    #[serde(serialize_with = "serialize_time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            user_name: row.user_name,
            nick_name: row.nick_name,
            avatar_url: row.avatar_url,
            avatar_thumb_url: row.avatar_thumb_url,
            created_at: row.created_at,
        }
    }
}

/// The sender as embedded in a message.
#[derive(Debug, Clone, Serialize, Queryable, Selectable, ToSchema)]
#[diesel(table_name = users)]
#[serde(rename_all = "camelCase")]
pub struct Sender {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub user_name: String,
    pub nick_name: String,
    pub avatar_url: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = threads)]
pub struct ThreadRow {
    pub id: ThreadId,
    pub is_group: bool,
    pub name: Option<String>,
    pub owner_id: Option<UserId>,
    pub direct_key: Option<String>,
    pub last_message_id: Option<MessageId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = threads)]
pub struct NewThread<'a> {
    pub is_group: bool,
    pub name: Option<&'a str>,
    pub owner_id: Option<UserId>,
    pub direct_key: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = thread_members)]
pub struct NewMember {
    pub thread_id: ThreadId,
    pub user_id: UserId,
    pub last_read_message_id: MessageId,
    pub joined_at: NaiveDateTime,
}

/// The thread object as one member sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    #[schema(value_type = i64)]
    pub id: ThreadId,
    pub is_group: bool,
    pub name: Option<String>,
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<UserId>,
    pub members: Vec<User>,
    pub last_message: Option<Message>,
    pub unread_count: i64,
    /// The viewer's own read mark.
    #[schema(value_type = i64)]
    pub last_read_message_id: MessageId,
    /// Every member's read mark, by user id: what "seen" indicators are drawn from.
    #[schema(value_type = std::collections::HashMap<String, i64>)]
    pub read_marks: std::collections::BTreeMap<UserId, MessageId>,
    #[serde(serialize_with = "serialize_time")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages)]
pub struct MessageRow {
    pub id: MessageId,
    pub thread_id: ThreadId,
    pub sender_id: UserId,
    pub body: Option<String>,
    pub client_msg_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub edited_at: Option<NaiveDateTime>,
    pub deleted: bool,
    pub reply_to_id: Option<MessageId>,
    pub seq: Seq,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage<'a> {
    pub thread_id: ThreadId,
    pub sender_id: UserId,
    pub body: Option<&'a str>,
    pub client_msg_id: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub reply_to_id: Option<MessageId>,
    pub seq: Seq,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = reactions)]
pub struct NewReaction<'a> {
    pub message_id: MessageId,
    pub user_id: UserId,
    pub emoji: &'a str,
    pub first_use: i64,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, Queryable, Selectable, ToSchema)]
#[diesel(table_name = attachments)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub id: i64,
    #[serde(skip)]
    pub message_id: MessageId,
    pub url: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    /// Pixels, for a png, jpeg, gif or webp whose header could be read; else null.
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// At most 320 px on the longer side (the image itself when that small); null for other
    /// files and for images that were not decoded (broken, or over 50 megapixels).
    pub thumb_url: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = attachments)]
pub struct NewAttachment {
    pub message_id: MessageId,
    pub url: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumb_url: Option<String>,
}

/// The message object of the contract.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[schema(value_type = i64)]
    pub id: MessageId,
    #[schema(value_type = i64)]
    pub thread_id: ThreadId,
    pub sender: Sender,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub client_msg_id: Option<String>,
    #[serde(serialize_with = "serialize_time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
    /// The time of the last edit.
    #[serde(serialize_with = "serialize_optional_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<NaiveDateTime>,
    /// A tombstone: text, attachments, reactions and replyTo are gone.
    pub deleted: bool,
    pub reply_to: Option<ReplyPreview>,
    pub reactions: Vec<Reaction>,
    /// The message's position in the change feed, an opaque string.
    #[schema(value_type = String)]
    pub seq: Seq,
}

/// The message a reply answers, as it is when read.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplyPreview {
    #[schema(value_type = i64)]
    pub id: MessageId,
    pub sender: Sender,
    /// Its first 200 code points; null once it is deleted.
    pub text: Option<String>,
    pub deleted: bool,
}

/// One emoji on a message: who used it, in the order they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reaction {
    pub emoji: String,
    pub count: usize,
    #[schema(value_type = Vec<i64>)]
    pub user_ids: Vec<UserId>,
}
