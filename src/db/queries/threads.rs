//! Threads: direct and group threads, who is in them, and the thread object a member sees.

use diesel::prelude::*;

use super::messages::load_messages;
use super::Result;
use crate::db::models::*;
use crate::db::schema::{messages, thread_members, threads, users};
use crate::db::DbConn;
use crate::db::DbError;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::{with_conn, write_tx};

pub fn find_thread(conn: &mut DbConn, id: ThreadId) -> Result<Option<ThreadRow>> {
    Ok(with_conn!(conn, c => threads::table
        .find(id)
        .select(ThreadRow::as_select())
        .first(c)
        .optional())?)
}

/// The member's read mark, or `None` when the user is not a member.
pub fn membership(
    conn: &mut DbConn,
    thread_id: ThreadId,
    user_id: UserId,
) -> Result<Option<MessageId>> {
    Ok(with_conn!(conn, c => thread_members::table
        .find((thread_id, user_id))
        .select(thread_members::last_read_message_id)
        .first(c)
        .optional())?)
}

pub fn member_ids(conn: &mut DbConn, thread_id: ThreadId) -> Result<Vec<UserId>> {
    Ok(with_conn!(conn, c => thread_members::table
        .filter(thread_members::thread_id.eq(thread_id))
        .order(thread_members::user_id.asc())
        .select(thread_members::user_id)
        .load(c))?)
}

/// Everyone who shares at least one thread with `user_id` (themself excluded).
pub fn contact_ids(conn: &mut DbConn, user_id: UserId) -> Result<Vec<UserId>> {
    let (mine, others) = diesel::alias!(thread_members as mine, thread_members as others);
    Ok(with_conn!(conn, c => others
        .filter(
            others.field(thread_members::thread_id).eq_any(
                mine.filter(mine.field(thread_members::user_id).eq(user_id))
                    .select(mine.field(thread_members::thread_id)),
            ),
        )
        .filter(others.field(thread_members::user_id).ne(user_id))
        .select(others.field(thread_members::user_id))
        .distinct()
        .load(c))?)
}

/// Returns the direct thread between two users and whether this call created it.
pub fn get_or_create_direct(conn: &mut DbConn, a: UserId, b: UserId) -> Result<(ThreadRow, bool)> {
    let key = format!("{}:{}", a.min(b), a.max(b));
    let attempt = write_tx!(conn, c => {
        let existing = threads::table
            .filter(threads::direct_key.eq(&key))
            .select(ThreadRow::as_select())
            .first(c)
            .optional()?;
        if let Some(row) = existing {
            return Ok((row, false));
        }
        let now = now();
        let row: ThreadRow = diesel::insert_into(threads::table)
            .values(NewThread {
                is_group: false,
                name: None,
                owner_id: None,
                direct_key: Some(&key),
                created_at: now,
                updated_at: now,
            })
            .returning(ThreadRow::as_returning())
            .get_result(c)?;
        let mut members = vec![a, b];
        members.dedup();
        let rows: Vec<NewMember> = members
            .into_iter()
            .map(|user_id| NewMember { thread_id: row.id, user_id, last_read_message_id: MessageId(0), joined_at: now })
            .collect();
        diesel::insert_into(thread_members::table).values(&rows).execute(c)?;
        Ok::<_, diesel::result::Error>((row, true))
    });
    match attempt.map_err(DbError::from) {
        // Another node created it between our check and our insert.
        Err(e) if e.is_unique_violation() => {
            let row = with_conn!(conn, c => threads::table
                .filter(threads::direct_key.eq(&key))
                .select(ThreadRow::as_select())
                .first(c))?;
            Ok((row, false))
        }
        other => other,
    }
}

/// Creates a group thread owned by `owner_id` with the given members (owner included).
pub fn create_group(
    conn: &mut DbConn,
    owner_id: UserId,
    name: &str,
    member_ids: &[UserId],
) -> Result<ThreadRow> {
    Ok(write_tx!(conn, c => {
        let now = now();
        let row: ThreadRow = diesel::insert_into(threads::table)
            .values(NewThread {
                is_group: true,
                name: Some(name),
                owner_id: Some(owner_id),
                direct_key: None,
                created_at: now,
                updated_at: now,
            })
            .returning(ThreadRow::as_returning())
            .get_result(c)?;
        for chunk in member_ids.chunks(1000) {
            let rows: Vec<NewMember> = chunk
                .iter()
                .map(|&user_id| NewMember { thread_id: row.id, user_id, last_read_message_id: MessageId(0), joined_at: now })
                .collect();
            diesel::insert_into(thread_members::table).values(&rows).execute(c)?;
        }
        Ok::<_, diesel::result::Error>(row)
    })?)
}

/// Serialises membership changes of one thread inside a write transaction. SQLite needs
/// nothing more: `BEGIN IMMEDIATE` already holds the database's write lock. PostgreSQL locks
/// the thread row, so a concurrent add waits here and then counts the members it committed.
/// The direct thread between two users, if there is one.
pub fn find_direct(conn: &mut DbConn, a: UserId, b: UserId) -> Result<Option<ThreadRow>> {
    let key = format!("{}:{}", a.min(b), a.max(b));
    Ok(with_conn!(conn, c => threads::table
        .filter(threads::direct_key.eq(&key))
        .select(ThreadRow::as_select())
        .first(c)
        .optional())?)
}

/// Every member's read mark and unread count, for `thread` events each member sees as theirs.
pub fn member_read_states(
    conn: &mut DbConn,
    thread_id: ThreadId,
) -> Result<Vec<(UserId, MessageId, i64)>> {
    Ok(with_conn!(conn, c => thread_members::table
        .left_join(
            messages::table.on(messages::thread_id
                .eq(thread_members::thread_id)
                .and(messages::id.gt(thread_members::last_read_message_id))
                .and(messages::sender_id.ne(thread_members::user_id))
                .and(messages::deleted.eq(false))),
        )
        .filter(thread_members::thread_id.eq(thread_id))
        .group_by((thread_members::user_id, thread_members::last_read_message_id))
        .select((
            thread_members::user_id,
            thread_members::last_read_message_id,
            diesel::dsl::count(messages::id.nullable()),
        ))
        .load(c))?)
}

/// The user's threads, most recent activity first.
pub fn threads_of_user(conn: &mut DbConn, user_id: UserId) -> Result<Vec<(ThreadRow, MessageId)>> {
    Ok(with_conn!(conn, c => thread_members::table
        .inner_join(threads::table)
        .filter(thread_members::user_id.eq(user_id))
        .order((threads::updated_at.desc(), threads::id.desc()))
        .select((ThreadRow::as_select(), thread_members::last_read_message_id))
        .load(c))?)
}

/// The thread object as `viewer` sees it (their unread count and read mark).
pub fn thread_view(
    conn: &mut DbConn,
    row: ThreadRow,
    viewer: UserId,
    last_read: MessageId,
) -> Result<Thread> {
    let rows: Vec<(User, MessageId)> = with_conn!(conn, c => thread_members::table
        .inner_join(users::table)
        .filter(thread_members::thread_id.eq(row.id))
        .order((thread_members::joined_at.asc(), thread_members::user_id.asc()))
        .select((User::as_select(), thread_members::last_read_message_id))
        .load(c))?;
    let read_marks = rows.iter().map(|(u, mark)| (u.id, *mark)).collect();
    let members = rows.into_iter().map(|(u, _)| u).collect();
    let last_message = match row.last_message_id {
        Some(id) => load_messages(conn, &[id])?.pop(),
        None => None,
    };
    let unread_count: i64 = with_conn!(conn, c => messages::table
        .filter(messages::thread_id.eq(row.id))
        .filter(messages::id.gt(last_read))
        .filter(messages::sender_id.ne(viewer))
        .filter(messages::deleted.eq(false))
        .count()
        .get_result(c))?;
    Ok(Thread {
        id: row.id,
        is_group: row.is_group,
        name: row.name,
        owner_id: row.owner_id,
        members,
        last_message,
        unread_count,
        last_read_message_id: last_read,
        read_marks,
        updated_at: row.updated_at,
    })
}

/// A thread's members, in the order they joined.
pub fn member_users(conn: &mut DbConn, thread_id: ThreadId) -> Result<Vec<User>> {
    Ok(with_conn!(conn, c => thread_members::table
        .inner_join(users::table)
        .filter(thread_members::thread_id.eq(thread_id))
        .order((thread_members::joined_at.asc(), thread_members::user_id.asc()))
        .select(User::as_select())
        .load(c))?)
}
