//! Every frame the server sends over a WebSocket, serialized once and shared by all recipients.
//! `ToSchema` describes them in /asyncapi.json (src/asyncapi.rs) from these very types.

use crate::domain::error::ErrorCode;
use crate::domain::feed::Seq;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::db::models::{Message, Thread, User};
use crate::registry::Frame;

pub fn encode<T: Serialize>(event: &T) -> Frame {
    // Serializing these plain structs cannot fail; an empty frame would be the visible symptom.
    Frame::from(serde_json::to_string(event).unwrap_or_default())
}

#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerEvent<'a> {
    /// The first frame of every connection; `cursor` is where a `sync {since}` goes on from.
    #[serde(rename_all = "camelCase")]
    Ready {
        user: &'a User,
        connection_id: &'a str,
        /// A resume point as of the moment the connection opened.
        #[schema(value_type = String)]
        cursor: Seq,
    },
    /// A message stored in one of the receiver's threads.
    Message { message: &'a Message },
    /// A message was edited, deleted or reacted to: the whole message as it now is.
    MessageUpdated { message: &'a Message },
    /// Another member is typing (or stopped).
    #[serde(rename_all = "camelCase")]
    Typing {
        #[schema(value_type = i64)]
        thread_id: ThreadId,
        user: TypingUser<'a>,
        is_typing: bool,
    },
    /// A member moved their read mark.
    #[serde(rename_all = "camelCase")]
    Read {
        #[schema(value_type = i64)]
        thread_id: ThreadId,
        #[schema(value_type = i64)]
        user_id: UserId,
        #[schema(value_type = i64)]
        message_id: MessageId,
    },
    /// A contact's first connection opened or last one closed (and one per online contact
    /// right after `ready`).
    #[serde(rename_all = "camelCase")]
    Presence {
        #[schema(value_type = i64)]
        user_id: UserId,
        online: bool,
    },
    /// A thread the receiver was added to, or one of theirs that changed: the whole thread.
    Thread { thread: &'a Thread },
    /// Extension: the receiver is no longer a member of this thread.
    #[serde(rename_all = "camelCase")]
    Removed {
        #[schema(value_type = i64)]
        thread_id: ThreadId,
    },
    /// The reply to `ping`.
    Pong {
        #[schema(value_type = Option<RequestId>)]
        id: &'a Value,
    },
    /// The reply to a request that was served.
    Ack(Ack<'a>),
    /// A request that could not be served; the connection stays open.
    Error {
        #[schema(value_type = Option<RequestId>)]
        id: &'a Value,
        #[schema(value_type = ErrorCode)]
        code: &'a str,
        message: &'a str,
    },
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypingUser<'a> {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub nick_name: &'a str,
}

/// The reply to a request: `id` echoed, plus what the request returns.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ack<'a> {
    #[schema(value_type = Option<RequestId>)]
    pub id: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<&'a [Message]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_more: Option<bool>,
    /// `sync {since}`: where the next sync goes on from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cursor: Option<Seq>,
}

impl<'a> Ack<'a> {
    pub fn empty(id: &'a Value) -> Self {
        Ack {
            id,
            message: None,
            messages: None,
            has_more: None,
            cursor: None,
        }
    }
}

/// A request's `id` as the reply echoes it: the string or number the client sent (`null` when
/// it sent none). Only describes the `Value` the frames carry.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum RequestId {
    Text(String),
    Number(f64),
}
