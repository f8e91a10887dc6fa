//! The life of a stored message: edit, delete (a tombstone), react, one message by id, the page
//! around one, and `sync {since}`, the catch-up by change cursor. Every change goes through the
//! thread's group commit ([`super::commit`]) like a send, so its ack and `messageUpdated` event
//! follow the thread's order.

use crate::db::models::Message;
use crate::db::queries::{self, AroundPage, Change, ChangeOutcome, Refusal, SincePage};
use crate::domain::feed::Seq;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::domain::validate;

use super::{Chat, Error, Origin, Result};

/// Which message a request means. Over HTTP the path names the thread, which is checked first
/// (403 for a non-member); over WebSocket only the message is named, and a message the user
/// cannot see is not found.
#[derive(Debug, Clone, Copy)]
pub enum MessageRef {
    InThread(ThreadId, MessageId),
    Visible(MessageId),
}

fn message_not_found() -> Error {
    Error::NotFound("Message not found".into())
}

pub(super) fn refusal_error(refusal: Refusal) -> Error {
    match refusal {
        Refusal::NotFound => message_not_found(),
        Refusal::Forbidden(why) => Error::Forbidden(why.into()),
        Refusal::Invalid(why) => Error::Validation(why),
    }
}

/// What a change request asks, before it knows its thread.
enum Ask {
    Edit(String),
    Delete,
    React { emoji: String, on: bool },
}

impl Chat {
    pub async fn edit(
        &self,
        actor: UserId,
        target: MessageRef,
        text: String,
        origin: Option<Origin>,
    ) -> Result<Message> {
        validate::message_text(&text).map_err(Error::Validation)?;
        self.change(actor, target, Ask::Edit(text), origin).await
    }

    pub async fn delete(
        &self,
        actor: UserId,
        target: MessageRef,
        origin: Option<Origin>,
    ) -> Result<Message> {
        self.change(actor, target, Ask::Delete, origin).await
    }

    pub async fn react(
        &self,
        actor: UserId,
        target: MessageRef,
        emoji: String,
        on: bool,
        origin: Option<Origin>,
    ) -> Result<Message> {
        validate::emoji(&emoji).map_err(Error::Validation)?;
        self.change(actor, target, Ask::React { emoji, on }, origin)
            .await
    }

    /// Rate limit, find the thread, then the thread's group commit. The ack (for a WebSocket
    /// origin) and the event to every member are sent by the committer, in the thread's order.
    async fn change(
        &self,
        actor: UserId,
        target: MessageRef,
        ask: Ask,
        origin: Option<Origin>,
    ) -> Result<Message> {
        self.inner
            .limits
            .check_send(actor)
            .await
            .map_err(Error::RateLimited)?;
        let (thread_id, message_id) = self.resolve(actor, target).await?;
        let change = match ask {
            Ask::Edit(text) => Change::Edit {
                actor,
                thread_id,
                message_id,
                text,
            },
            Ask::Delete => Change::Delete {
                actor,
                thread_id,
                message_id,
            },
            Ask::React { emoji, on } => Change::React {
                actor,
                thread_id,
                message_id,
                emoji,
                on,
            },
        };
        match self.commit(change, Vec::new(), origin).await? {
            ChangeOutcome::Changed { message, .. } | ChangeOutcome::Unchanged(message) => {
                Ok(message)
            }
            ChangeOutcome::Refused(refusal) => Err(refusal_error(refusal)),
            ChangeOutcome::NotMember => Err(message_not_found()),
            ChangeOutcome::Created(_) | ChangeOutcome::Existing(_) => Err(Error::Internal(
                "a change was stored as a new message".into(),
            )),
        }
    }

    async fn resolve(&self, user_id: UserId, target: MessageRef) -> Result<(ThreadId, MessageId)> {
        match target {
            MessageRef::InThread(thread_id, message_id) => {
                self.require_member(user_id, thread_id).await?;
                Ok((thread_id, message_id))
            }
            MessageRef::Visible(message_id) => self
                .db()
                .run(move |c| queries::visible_message_thread(c, user_id, message_id))
                .await?
                .map(|thread_id| (thread_id, message_id))
                .ok_or_else(message_not_found),
        }
    }

    /// `GET /threads/{id}/messages/{messageId}`: a deleted message as its tombstone.
    pub async fn message(
        &self,
        user_id: UserId,
        thread_id: ThreadId,
        message_id: MessageId,
    ) -> Result<Message> {
        self.require_member(user_id, thread_id).await?;
        self.db()
            .run(move |c| queries::message_in_thread(c, thread_id, message_id))
            .await?
            .ok_or_else(message_not_found)
    }

    /// The page around a message: "jump to the message replied to".
    pub async fn around(
        &self,
        user_id: UserId,
        thread_id: ThreadId,
        message_id: MessageId,
        limit: Option<i64>,
    ) -> Result<AroundPage> {
        let limit = validate::limit(limit, 50, 100).map_err(Error::Validation)?;
        self.check_read(user_id).await?;
        self.require_member(user_id, thread_id).await?;
        self.db()
            .run(move |c| queries::around(c, thread_id, message_id, limit))
            .await?
            .ok_or_else(message_not_found)
    }

    /// Every message of the user's threads changed after `since`, once each, in change order,
    /// and the cursor the next sync goes on from.
    pub async fn sync_since(
        &self,
        user_id: UserId,
        since: &str,
        limit: Option<i64>,
    ) -> Result<(Vec<Message>, bool, Seq)> {
        let limit = validate::limit(limit, 500, 500).map_err(Error::Validation)?;
        let since = Seq::parse_cursor(since).map_err(Error::Validation)?;
        self.check_read(user_id).await?;
        match self
            .db()
            .run(move |c| queries::sync_since(c, user_id, since, limit))
            .await?
        {
            SincePage::Page {
                messages,
                has_more,
                cursor,
            } => Ok((messages, has_more, cursor)),
            SincePage::UnknownCursor => Err(Error::Validation(
                "since is not a cursor this server handed out".into(),
            )),
        }
    }

    /// A resume point for a connection opening now (`ready.cursor`).
    pub async fn feed_cursor(&self) -> Result<Seq> {
        Ok(self.db().run(queries::feed_head).await?)
    }
}
