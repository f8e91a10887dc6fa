//! Every frame the server sends over a WebSocket, serialized once and shared by all recipients.

use crate::domain::feed::Seq;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use serde::Serialize;
use serde_json::Value;

use crate::db::models::{Message, Thread, User};
use crate::registry::Frame;

pub fn encode<T: Serialize>(event: &T) -> Frame {
    // Serializing these plain structs cannot fail; an empty frame would be the visible symptom.
    Frame::from(serde_json::to_string(event).unwrap_or_default())
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerEvent<'a> {
    #[serde(rename_all = "camelCase")]
    Ready {
        user: &'a User,
        connection_id: &'a str,
        /// A resume point as of the moment the connection opened.
        cursor: Seq,
    },
    Message {
        message: &'a Message,
    },
    /// A message was edited, deleted or reacted to: the whole message as it now is.
    MessageUpdated {
        message: &'a Message,
    },
    #[serde(rename_all = "camelCase")]
    Typing {
        thread_id: ThreadId,
        user: TypingUser<'a>,
        is_typing: bool,
    },
    #[serde(rename_all = "camelCase")]
    Read {
        thread_id: ThreadId,
        user_id: UserId,
        message_id: MessageId,
    },
    #[serde(rename_all = "camelCase")]
    Presence {
        user_id: UserId,
        online: bool,
    },
    Thread {
        thread: &'a Thread,
    },
    /// Extension: the receiver is no longer a member of this thread.
    #[serde(rename_all = "camelCase")]
    Removed {
        thread_id: ThreadId,
    },
    Pong {
        id: &'a Value,
    },
    Ack(Ack<'a>),
    Error {
        id: &'a Value,
        code: &'a str,
        message: &'a str,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingUser<'a> {
    pub id: UserId,
    pub nick_name: &'a str,
}

/// The reply to a request: `id` echoed, plus what the request returns.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ack<'a> {
    pub id: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<&'a [Message]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_more: Option<bool>,
    /// `sync {since}`: where the next sync goes on from.
    #[serde(skip_serializing_if = "Option::is_none")]
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
