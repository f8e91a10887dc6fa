//! Every write to messages: new messages, edits, deletes and reactions, stored a batch at a time
//! (one transaction, one commit: group commit), each change inside its own savepoint so that one
//! refused or failed change is answered on its own without undoing the others.
//!
//! The change feed: each transaction first moves the one-row `change_feed` head forward and
//! takes the positions it hands its changes (`seq`) from below the new head. That update holds
//! the row's lock until commit (on SQLite, `BEGIN IMMEDIATE` already holds the database's), so
//! these transactions commit one after another in the order they took positions, and message
//! ids (taken after the head, in the same transaction) follow the same order. A reader that sees
//! the head at H therefore sees every change at or below H, and every change it cannot see yet
//! will land above H: H is a safe cursor, and the highest message id it sees is a safe `after`.

use std::collections::HashMap;

use diesel::prelude::*;

use super::messages::load_messages;
use super::uploads::AttachmentInput;
use super::Result;
use crate::db::models::*;
use crate::db::schema::{change_feed, messages, thread_members};
use crate::db::DbConn;
use crate::db::DbError;
use crate::domain::feed::Seq;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::{with_conn, write_tx};

/// At most this many distinct emoji on one message.
pub const MAX_DISTINCT_EMOJI: usize = 50;

pub struct NewMessageInput {
    pub thread_id: ThreadId,
    pub sender_id: UserId,
    pub text: Option<String>,
    pub client_msg_id: Option<String>,
    pub reply_to: Option<MessageId>,
    /// Files already stored on disk.
    pub attachments: Vec<AttachmentInput>,
}

/// One change to store. `thread_id` of the others is the thread the message must be in (the
/// service found it, or the HTTP path named it).
pub enum Change {
    Send(NewMessageInput),
    Edit {
        actor: UserId,
        thread_id: ThreadId,
        message_id: MessageId,
        text: String,
    },
    Delete {
        actor: UserId,
        thread_id: ThreadId,
        message_id: MessageId,
    },
    React {
        actor: UserId,
        thread_id: ThreadId,
        message_id: MessageId,
        emoji: String,
        on: bool,
    },
}

impl Change {
    pub fn thread_id(&self) -> ThreadId {
        match self {
            Change::Send(input) => input.thread_id,
            Change::Edit { thread_id, .. }
            | Change::Delete { thread_id, .. }
            | Change::React { thread_id, .. } => *thread_id,
        }
    }
}

/// Why a change was not applied, beyond "not a member".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such message in that thread, or deleted (for an edit or a reaction).
    NotFound,
    Forbidden(&'static str),
    Invalid(String),
}

pub enum ChangeOutcome {
    Created(Message),
    /// The same (thread, sender, clientMsgId) was stored before: the original.
    Existing(Message),
    /// Edited, deleted or reacted: the message as it now is, and the uploads a delete took
    /// away (their files go once the commit is through).
    Changed {
        message: Message,
        removed_uploads: Vec<RemovedUpload>,
    },
    /// Nothing to do (the same text, a second delete, a reaction already there or not there).
    Unchanged(Message),
    NotMember,
    Refused(Refusal),
}

/// An attachment's file URL and its thumbnail's.
pub type RemovedUpload = (String, Option<String>);

enum Step {
    Created(MessageId),
    Existing(MessageId),
    Changed(MessageId, Vec<RemovedUpload>),
    Unchanged(MessageId),
    NotMember,
    Refused(Refusal),
}

type Tx<T> = std::result::Result<T, diesel::result::Error>;

mod writes;
use writes::ChangeWrites;

/// Stores a batch of changes in one transaction, in order.
pub fn apply_changes(conn: &mut DbConn, changes: &[Change]) -> Result<Vec<Result<ChangeOutcome>>> {
    // retries of messages already stored are answered without writing
    let mut existing = Vec::with_capacity(changes.len());
    for change in changes {
        existing.push(match change {
            Change::Send(input) => find_existing(conn, input)?,
            _ => None,
        });
    }
    let steps: Vec<Tx<Step>> = write_tx!(conn, c => {
        // First, before any message id is taken: the head's row lock orders the transactions.
        let head: i64 = diesel::update(change_feed::table.find(1))
            .set(change_feed::head.eq(change_feed::head + changes.len() as i64))
            .returning(change_feed::head)
            .get_result(c)?;
        let mut next = head - changes.len() as i64;
        let mut steps = Vec::with_capacity(changes.len());
        for (change, existing) in changes.iter().zip(&existing) {
            next += 1;
            let seq = Seq(next);
            if let Some(id) = existing {
                steps.push(Ok(Step::Existing(*id)));
                continue;
            }
            steps.push(c.transaction(|c| match change {
                Change::Send(input) => c.insert_message(input, seq),
                Change::Edit { actor, thread_id, message_id, text } => {
                    c.edit_message(*actor, *thread_id, *message_id, text, seq)
                }
                Change::Delete { actor, thread_id, message_id } => {
                    c.delete_message(*actor, *thread_id, *message_id, seq)
                }
                Change::React { actor, thread_id, message_id, emoji, on } => {
                    c.react_to_message(*actor, *thread_id, *message_id, emoji, *on, seq)
                }
            }));
        }
        Ok::<_, diesel::result::Error>(steps)
    })
    .map_err(DbError::from)?;

    let mut resolved = Vec::with_capacity(steps.len());
    for (change, step) in changes.iter().zip(steps) {
        resolved.push(match (change, step.map_err(DbError::from)) {
            // A concurrent retry with the same clientMsgId won the race: answer with its message.
            (Change::Send(input), Err(e)) if e.is_unique_violation() => {
                match find_existing(conn, input)? {
                    Some(id) => Ok(Step::Existing(id)),
                    None => Err(e),
                }
            }
            (_, other) => other,
        });
    }
    // one read for every message the batch answers with
    let ids: Vec<MessageId> = resolved
        .iter()
        .filter_map(|step| match step {
            Ok(
                Step::Created(id) | Step::Existing(id) | Step::Changed(id, _) | Step::Unchanged(id),
            ) => Some(*id),
            _ => None,
        })
        .collect();
    let loaded: HashMap<MessageId, Message> = load_messages(conn, &ids)?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let take = |id: MessageId| {
        loaded
            .get(&id)
            .cloned()
            .ok_or(DbError::Query(diesel::result::Error::NotFound))
    };
    Ok(resolved
        .into_iter()
        .map(|step| match step? {
            Step::Created(id) => take(id).map(ChangeOutcome::Created),
            Step::Existing(id) => take(id).map(ChangeOutcome::Existing),
            Step::Changed(id, removed_uploads) => take(id).map(|message| ChangeOutcome::Changed {
                message,
                removed_uploads,
            }),
            Step::Unchanged(id) => take(id).map(ChangeOutcome::Unchanged),
            Step::NotMember => Ok(ChangeOutcome::NotMember),
            Step::Refused(refusal) => Ok(ChangeOutcome::Refused(refusal)),
        })
        .collect())
}

fn find_existing(conn: &mut DbConn, input: &NewMessageInput) -> Result<Option<MessageId>> {
    let Some(cmid) = input.client_msg_id.as_deref() else {
        return Ok(None);
    };
    Ok(with_conn!(conn, c => messages::table
        .filter(messages::thread_id.eq(input.thread_id))
        .filter(messages::sender_id.eq(input.sender_id))
        .filter(messages::client_msg_id.eq(cmid))
        .select(messages::id)
        .first(c)
        .optional())?)
}

/// The thread a message is in, if the user may see it: what a WebSocket request naming only a
/// message id is queued and judged by.
pub fn visible_message_thread(
    conn: &mut DbConn,
    user_id: UserId,
    message_id: MessageId,
) -> Result<Option<ThreadId>> {
    Ok(with_conn!(conn, c => messages::table
        .inner_join(
            thread_members::table.on(thread_members::thread_id
                .eq(messages::thread_id)
                .and(thread_members::user_id.eq(user_id))),
        )
        .filter(messages::id.eq(message_id))
        .select(messages::thread_id)
        .first(c)
        .optional())?)
}
