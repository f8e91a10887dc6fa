//! Messages: the group commit's batch insert, full message objects, history, sync, read marks.

use std::collections::HashMap;

use diesel::prelude::*;

use super::threads::membership;
use super::uploads::AttachmentInput;
use super::Result;
use crate::db::models::*;
use crate::db::schema::{attachments, messages, thread_members, threads, users};
use crate::db::DbConn;
use crate::db::DbError;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::{with_conn, write_tx};

pub struct NewMessageInput {
    pub thread_id: ThreadId,
    pub sender_id: UserId,
    pub text: Option<String>,
    pub client_msg_id: Option<String>,
    /// Files already stored on disk.
    pub attachments: Vec<AttachmentInput>,
}

pub enum InsertOutcome {
    Created(Message),
    /// The same (thread, sender, clientMsgId) was stored before: the original.
    Existing(Message),
    NotMember,
}

/// Stores a batch of messages in one transaction (one commit, one fsync: group commit), in
/// order. Each message is stored inside its own savepoint, so one that fails (a retry racing
/// its original) is answered on its own without undoing the others.
pub fn insert_messages(
    conn: &mut DbConn,
    inputs: &[NewMessageInput],
) -> Result<Vec<Result<InsertOutcome>>> {
    enum Step {
        Created(MessageId),
        Existing(MessageId),
        NotMember,
    }
    let find_existing = |conn: &mut DbConn, input: &NewMessageInput| -> Result<Option<MessageId>> {
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
    };
    // retries of messages already stored are answered without writing
    let mut existing = Vec::with_capacity(inputs.len());
    for input in inputs {
        existing.push(find_existing(conn, input)?);
    }
    let steps: Vec<std::result::Result<Step, diesel::result::Error>> = write_tx!(conn, c => {
        let mut steps = Vec::with_capacity(inputs.len());
        for (input, existing) in inputs.iter().zip(&existing) {
            if let Some(id) = existing {
                steps.push(Ok(Step::Existing(*id)));
                continue;
            }
            steps.push(c.transaction(|c| {
                let member = thread_members::table
                    .find((input.thread_id, input.sender_id))
                    .count()
                    .get_result::<i64>(c)?;
                if member == 0 {
                    return Ok(Step::NotMember);
                }
                let now = now();
                let id: MessageId = diesel::insert_into(messages::table)
                    .values(NewMessage {
                        thread_id: input.thread_id,
                        sender_id: input.sender_id,
                        body: input.text.as_deref(),
                        client_msg_id: input.client_msg_id.as_deref(),
                        created_at: now,
                    })
                    .returning(messages::id)
                    .get_result(c)?;
                if !input.attachments.is_empty() {
                    let rows: Vec<NewAttachment> =
                        input.attachments.iter().map(|a| a.row(id)).collect();
                    diesel::insert_into(attachments::table).values(&rows).execute(c)?;
                }
                diesel::update(threads::table.find(input.thread_id))
                    .set((threads::last_message_id.eq(id), threads::updated_at.eq(now)))
                    .execute(c)?;
                Ok::<_, diesel::result::Error>(Step::Created(id))
            }));
        }
        Ok::<_, diesel::result::Error>(steps)
    })
    .map_err(DbError::from)?;
    let mut outcomes = Vec::with_capacity(inputs.len());
    for (input, step) in inputs.iter().zip(steps) {
        let step = match step.map_err(DbError::from) {
            // A concurrent retry with the same clientMsgId won the race: answer with its message.
            Err(e) if e.is_unique_violation() => match find_existing(conn, input)? {
                Some(id) => Ok(Step::Existing(id)),
                None => Err(e),
            },
            other => other,
        };
        outcomes.push(match step {
            Ok(Step::Created(id)) => load_one(conn, id).map(InsertOutcome::Created),
            Ok(Step::Existing(id)) => load_one(conn, id).map(InsertOutcome::Existing),
            Ok(Step::NotMember) => Ok(InsertOutcome::NotMember),
            Err(e) => Err(e),
        });
    }
    Ok(outcomes)
}

fn load_one(conn: &mut DbConn, id: MessageId) -> Result<Message> {
    load_messages(conn, &[id])?
        .pop()
        .ok_or(DbError::Query(diesel::result::Error::NotFound))
}

/// Full message objects (sender and attachments) for the given ids, ascending.
pub fn load_messages(conn: &mut DbConn, ids: &[MessageId]) -> Result<Vec<Message>> {
    let rows: Vec<(MessageRow, Sender)> = with_conn!(conn, c => messages::table
        .inner_join(users::table)
        .filter(messages::id.eq_any(ids))
        .order(messages::id.asc())
        .select((MessageRow::as_select(), Sender::as_select()))
        .load(c))?;
    assemble(conn, rows)
}

fn assemble(conn: &mut DbConn, rows: Vec<(MessageRow, Sender)>) -> Result<Vec<Message>> {
    let ids: Vec<MessageId> = rows.iter().map(|(m, _)| m.id).collect();
    let mut files: HashMap<MessageId, Vec<Attachment>> = HashMap::new();
    if !ids.is_empty() {
        let found: Vec<Attachment> = with_conn!(conn, c => attachments::table
            .filter(attachments::message_id.eq_any(&ids))
            .order(attachments::id.asc())
            .select(Attachment::as_select())
            .load(c))?;
        for a in found {
            files.entry(a.message_id).or_default().push(a);
        }
    }
    Ok(rows
        .into_iter()
        .map(|(m, sender)| Message {
            attachments: files.remove(&m.id).unwrap_or_default(),
            id: m.id,
            thread_id: m.thread_id,
            sender,
            text: m.body,
            client_msg_id: m.client_msg_id,
            created_at: m.created_at,
        })
        .collect())
}

/// A page of a thread's messages, ascending. Without `after`: the newest page (before `before`).
pub fn history(
    conn: &mut DbConn,
    thread_id: ThreadId,
    before: Option<MessageId>,
    after: Option<MessageId>,
    limit: i64,
) -> Result<(Vec<Message>, bool)> {
    let mut rows: Vec<(MessageRow, Sender)> = with_conn!(conn, c => {
        let mut query = messages::table
            .inner_join(users::table)
            .filter(messages::thread_id.eq(thread_id))
            .select((MessageRow::as_select(), Sender::as_select()))
            .limit(limit + 1)
            .into_boxed();
        if let Some(b) = before {
            query = query.filter(messages::id.lt(b));
        }
        if let Some(a) = after {
            query = query.filter(messages::id.gt(a)).order(messages::id.asc());
        } else {
            query = query.order(messages::id.desc());
        }
        query.load(c)
    })?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if after.is_none() {
        rows.reverse();
    }
    Ok((assemble(conn, rows)?, has_more))
}

/// Messages of every thread of the user with id > `after`, ascending: catch-up after a reconnect.
pub fn sync(
    conn: &mut DbConn,
    user_id: UserId,
    after: MessageId,
    limit: i64,
) -> Result<(Vec<Message>, bool)> {
    let mut rows: Vec<(MessageRow, Sender)> = with_conn!(conn, c => messages::table
        .inner_join(users::table)
        .filter(messages::id.gt(after))
        .filter(
            messages::thread_id.eq_any(
                thread_members::table
                    .filter(thread_members::user_id.eq(user_id))
                    .select(thread_members::thread_id),
            ),
        )
        .order(messages::id.asc())
        .limit(limit + 1)
        .select((MessageRow::as_select(), Sender::as_select()))
        .load(c))?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((assemble(conn, rows)?, has_more))
}

pub enum ReadOutcome {
    Marked,
    NotMember,
    NoSuchMessage,
}

/// Moves the member's read mark forward (never back) to `message_id`.
pub fn mark_read(
    conn: &mut DbConn,
    thread_id: ThreadId,
    user_id: UserId,
    message_id: MessageId,
) -> Result<ReadOutcome> {
    if membership(conn, thread_id, user_id)?.is_none() {
        return Ok(ReadOutcome::NotMember);
    }
    let exists: i64 = with_conn!(conn, c => messages::table
        .filter(messages::id.eq(message_id))
        .filter(messages::thread_id.eq(thread_id))
        .count()
        .get_result(c))?;
    if exists == 0 {
        return Ok(ReadOutcome::NoSuchMessage);
    }
    with_conn!(conn, c => diesel::update(
        thread_members::table
            .filter(thread_members::thread_id.eq(thread_id))
            .filter(thread_members::user_id.eq(user_id))
            .filter(thread_members::last_read_message_id.lt(message_id)),
    )
    .set(thread_members::last_read_message_id.eq(message_id))
    .execute(c))?;
    Ok(ReadOutcome::Marked)
}
