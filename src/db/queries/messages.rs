//! Reading messages: full message objects (sender, attachments, reply preview, reactions),
//! history pages, one message, the page around one, both kinds of sync, and read marks.
//! Every write to a message is in [`super::changes`].

use std::collections::HashMap;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::threads::membership;
use super::Result;
use crate::db::models::*;
use crate::db::schema::{attachments, change_feed, messages, reactions, thread_members, users};
use crate::db::DbConn;
use crate::domain::feed::Seq;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::with_conn;

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

/// Replies show this much of the message they answer.
const REPLY_PREVIEW_CHARS: usize = 200;

fn assemble(conn: &mut DbConn, rows: Vec<(MessageRow, Sender)>) -> Result<Vec<Message>> {
    let ids: Vec<MessageId> = rows.iter().map(|(m, _)| m.id).collect();
    let mut files: HashMap<MessageId, Vec<Attachment>> = HashMap::new();
    let mut reacted: HashMap<MessageId, Vec<Reaction>> = HashMap::new();
    let mut previews: HashMap<MessageId, ReplyPreview> = HashMap::new();
    if !ids.is_empty() {
        let found: Vec<Attachment> = with_conn!(conn, c => attachments::table
            .filter(attachments::message_id.eq_any(&ids))
            .order(attachments::id.asc())
            .select(Attachment::as_select())
            .load(c))?;
        for a in found {
            files.entry(a.message_id).or_default().push(a);
        }
        let found: Vec<(MessageId, String, UserId, i64)> = with_conn!(conn, c => reactions::table
            .filter(reactions::message_id.eq_any(&ids))
            .order(reactions::id.asc())
            .select((reactions::message_id, reactions::emoji, reactions::user_id, reactions::first_use))
            .load(c))?;
        // rows come in reaction order (userIds); emoji go by their first use
        let mut first_uses: HashMap<(MessageId, String), i64> = HashMap::new();
        for (message_id, emoji, user_id, first_use) in found {
            first_uses.insert((message_id, emoji.clone()), first_use);
            let entries = reacted.entry(message_id).or_default();
            match entries.iter_mut().find(|r| r.emoji == emoji) {
                Some(entry) => entry.user_ids.push(user_id),
                None => entries.push(Reaction {
                    emoji,
                    count: 0,
                    user_ids: vec![user_id],
                }),
            }
        }
        for (message_id, entries) in reacted.iter_mut() {
            entries.sort_by_key(|r| first_uses.get(&(*message_id, r.emoji.clone())).copied());
            for entry in entries.iter_mut() {
                entry.count = entry.user_ids.len();
            }
        }
        let answered: Vec<MessageId> = rows.iter().filter_map(|(m, _)| m.reply_to_id).collect();
        if !answered.is_empty() {
            let found: Vec<(MessageId, Option<String>, bool, Sender)> = with_conn!(conn, c => messages::table
                .inner_join(users::table)
                .filter(messages::id.eq_any(&answered))
                .select((messages::id, messages::body, messages::deleted, Sender::as_select()))
                .load(c))?;
            for (id, body, deleted, sender) in found {
                let text = body.map(|t| match t.char_indices().nth(REPLY_PREVIEW_CHARS) {
                    Some((cut, _)) => t[..cut].to_owned(),
                    None => t,
                });
                previews.insert(
                    id,
                    ReplyPreview {
                        id,
                        sender,
                        text,
                        deleted,
                    },
                );
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|(m, sender)| Message {
            attachments: files.remove(&m.id).unwrap_or_default(),
            reactions: reacted.remove(&m.id).unwrap_or_default(),
            reply_to: m.reply_to_id.and_then(|id| previews.get(&id).cloned()),
            id: m.id,
            thread_id: m.thread_id,
            sender,
            text: m.body,
            client_msg_id: m.client_msg_id,
            created_at: m.created_at,
            edited_at: m.edited_at,
            deleted: m.deleted,
            seq: m.seq,
        })
        .collect())
}

/// One message of a thread.
pub fn message_in_thread(
    conn: &mut DbConn,
    thread_id: ThreadId,
    message_id: MessageId,
) -> Result<Option<Message>> {
    let rows: Vec<(MessageRow, Sender)> = with_conn!(conn, c => messages::table
        .inner_join(users::table)
        .filter(messages::id.eq(message_id))
        .filter(messages::thread_id.eq(thread_id))
        .select((MessageRow::as_select(), Sender::as_select()))
        .load(c))?;
    Ok(assemble(conn, rows)?.pop())
}

pub struct AroundPage {
    pub messages: Vec<Message>,
    pub has_more: bool,
    pub has_more_after: bool,
}

/// Up to `limit / 2` messages before `message_id`, the message, and the rest of `limit` after
/// it, ascending; `None` when the message is not in the thread.
pub fn around(
    conn: &mut DbConn,
    thread_id: ThreadId,
    message_id: MessageId,
    limit: i64,
) -> Result<Option<AroundPage>> {
    let exists: i64 = with_conn!(conn, c => messages::table
        .filter(messages::id.eq(message_id))
        .filter(messages::thread_id.eq(thread_id))
        .count()
        .get_result(c))?;
    if exists == 0 {
        return Ok(None);
    }
    let before_count = limit / 2;
    let after_count = limit - before_count - 1;
    let (older, has_more) = if before_count > 0 {
        history(conn, thread_id, Some(message_id), None, before_count)?
    } else {
        let (older, _) = history(conn, thread_id, Some(message_id), None, 1)?;
        (Vec::new(), !older.is_empty())
    };
    let (newer, has_more_after) = history(
        conn,
        thread_id,
        None,
        Some(MessageId(message_id.0 - 1)),
        after_count + 1,
    )?;
    // `newer` starts with the message itself
    let mut messages = older;
    messages.extend(newer);
    Ok(Some(AroundPage {
        messages,
        has_more,
        has_more_after,
    }))
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
    // ids first, then the rows: the user's threads are searched one by one and their matches
    // sorted, so the sort holds only ids, not every column of every message after `after`
    let mut ids: Vec<MessageId> = with_conn!(conn, c => messages::table
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
        .select(messages::id)
        .load(c))?;
    let has_more = ids.len() as i64 > limit;
    ids.truncate(limit as usize);
    Ok((load_messages(conn, &ids)?, has_more))
}

/// The feed's head as this connection sees it now: a safe resume point (see
/// [`super::changes`]).
pub fn feed_head(conn: &mut DbConn) -> Result<Seq> {
    Ok(with_conn!(conn, c => change_feed::table
        .find(1)
        .select(change_feed::head)
        .first::<i64>(c)
        .map(Seq))?)
}

pub enum SincePage {
    Page {
        messages: Vec<Message>,
        has_more: bool,
        cursor: Seq,
    },
    /// A cursor beyond the head: not one this server handed out.
    UnknownCursor,
}

/// The current state of every message of the user's threads changed after `since`, in change
/// order. The head and the page are read in one snapshot, so a page that is not full ends at
/// the head: the next sync goes on from there, past the changes of threads not the user's.
pub fn sync_since(conn: &mut DbConn, user_id: UserId, since: Seq, limit: i64) -> Result<SincePage> {
    // One snapshot for the head, the page and every part of each message (attachments,
    // reactions, previews), so no message of the page mixes two of its states. Begun by hand:
    // the message objects are read through the backend-neutral `DbConn`.
    let begin = match conn {
        // a deferred read transaction: one WAL snapshot from its first read to its end
        DbConn::Sqlite(_) => "BEGIN DEFERRED",
        DbConn::Pg(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    with_conn!(conn, c => c.batch_execute(begin))?;
    let page = sync_since_page(conn, user_id, since, limit);
    let end = if page.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = with_conn!(conn, c => c.batch_execute(end));
    let page = page?;
    ended?;
    Ok(page)
}

fn sync_since_page(
    conn: &mut DbConn,
    user_id: UserId,
    since: Seq,
    limit: i64,
) -> Result<SincePage> {
    let head = feed_head(conn)?;
    if since > head {
        return Ok(SincePage::UnknownCursor);
    }
    // positions first, then the rows (as in `sync`: the sort holds only two numbers a row)
    let mut changed: Vec<(MessageId, Seq)> = with_conn!(conn, c => messages::table
        .filter(messages::seq.gt(since))
        .filter(
            messages::thread_id.eq_any(
                thread_members::table
                    .filter(thread_members::user_id.eq(user_id))
                    .select(thread_members::thread_id),
            ),
        )
        .order(messages::seq.asc())
        .limit(limit + 1)
        .select((messages::id, messages::seq))
        .load(c))?;
    let has_more = changed.len() as i64 > limit;
    changed.truncate(limit as usize);
    let cursor = match (has_more, changed.last()) {
        (true, Some((_, seq))) => *seq,
        _ => head,
    };
    let ids: Vec<MessageId> = changed.iter().map(|(id, _)| *id).collect();
    let mut messages = load_messages(conn, &ids)?;
    messages.sort_by_key(|m| m.seq);
    Ok(SincePage::Page {
        messages,
        has_more,
        cursor,
    })
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
