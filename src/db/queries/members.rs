//! Membership changes and renames: each one write transaction, checked under the thread's lock.

use diesel::prelude::*;

use super::thread_lock::LockThread;
use super::Result;
use crate::db::models::*;
use crate::db::schema::{thread_members, threads};
use crate::db::DbConn;
use crate::domain::ids::{ThreadId, UserId};
use crate::write_tx;

/// Inside a write transaction: locks the thread and returns its row if it is a group `actor` is
/// a member of; otherwise returns the refusal from the enclosing transaction. A macro, so that
/// it expands for each backend's connection.
macro_rules! lock_group_as_member {
    ($c:ident, $thread_id:expr, $actor:expr) => {{
        let Some(row) = $c.lock_thread($thread_id)? else {
            return Ok(MemberChange::NoThread);
        };
        let actor_member = thread_members::table
            .find(($thread_id, $actor))
            .count()
            .get_result::<i64>($c)?;
        if actor_member == 0 {
            return Ok(MemberChange::NotMember);
        }
        if !row.is_group {
            return Ok(MemberChange::Direct);
        }
        row
    }};
}

/// What a membership change or rename found; checked inside its transaction.
#[derive(Debug, PartialEq, Eq)]
pub enum MemberChange {
    Done,
    /// Nothing to do (an add of a member already there).
    Unchanged,
    NoThread,
    /// The actor is not a member.
    NotMember,
    /// A direct thread: its members and name are fixed.
    Direct,
    /// Only the owner may do this.
    NotOwner,
    /// An add that would pass the member cap.
    Full,
    /// A removal of someone who is not a member.
    NoSuchMember,
}

/// The owner adds `user_id`: checks, count and insert in one transaction, so two concurrent
/// adds cannot pass `max` members together.
pub fn add_member(
    conn: &mut DbConn,
    actor: UserId,
    thread_id: ThreadId,
    user_id: UserId,
    max: u64,
) -> Result<MemberChange> {
    Ok(write_tx!(conn, c => {
        let row = lock_group_as_member!(c, thread_id, actor);
        if row.owner_id != Some(actor) {
            return Ok(MemberChange::NotOwner);
        }
        let already = thread_members::table
            .find((thread_id, user_id))
            .count()
            .get_result::<i64>(c)?;
        if already > 0 {
            return Ok(MemberChange::Unchanged);
        }
        let members = thread_members::table
            .filter(thread_members::thread_id.eq(thread_id))
            .count()
            .get_result::<i64>(c)?;
        if members as u64 >= max {
            return Ok(MemberChange::Full);
        }
        diesel::insert_into(thread_members::table)
            .values(NewMember {
                thread_id,
                user_id,
                // a newcomer starts with the backlog marked read
                last_read_message_id: row.last_message_id.unwrap_or_default(),
                joined_at: now(),
            })
            .execute(c)?;
        Ok::<_, diesel::result::Error>(MemberChange::Done)
    })?)
}

/// The owner removes anyone, anyone removes themself; an owner who leaves hands the group to
/// the longest-standing member. One transaction, the owner read under the same lock.
pub fn remove_member(
    conn: &mut DbConn,
    actor: UserId,
    thread_id: ThreadId,
    user_id: UserId,
) -> Result<MemberChange> {
    Ok(write_tx!(conn, c => {
        let row = lock_group_as_member!(c, thread_id, actor);
        if actor != user_id && row.owner_id != Some(actor) {
            return Ok(MemberChange::NotOwner);
        }
        let removed = diesel::delete(thread_members::table.find((thread_id, user_id))).execute(c)?;
        if removed == 0 {
            return Ok(MemberChange::NoSuchMember);
        }
        if row.owner_id == Some(user_id) {
            let next: Option<UserId> = thread_members::table
                .filter(thread_members::thread_id.eq(thread_id))
                .order((thread_members::joined_at.asc(), thread_members::user_id.asc()))
                .select(thread_members::user_id)
                .first(c)
                .optional()?;
            diesel::update(threads::table.find(thread_id))
                .set(threads::owner_id.eq(next))
                .execute(c)?;
        }
        Ok::<_, diesel::result::Error>(MemberChange::Done)
    })?)
}

/// The owner renames a group (`name` already validated).
pub fn rename_group(
    conn: &mut DbConn,
    actor: UserId,
    thread_id: ThreadId,
    name: &str,
) -> Result<MemberChange> {
    Ok(write_tx!(conn, c => {
        let row = lock_group_as_member!(c, thread_id, actor);
        if row.owner_id != Some(actor) {
            return Ok(MemberChange::NotOwner);
        }
        if row.name.as_deref() == Some(name) {
            return Ok(MemberChange::Unchanged);
        }
        diesel::update(threads::table.find(thread_id))
            .set(threads::name.eq(name))
            .execute(c)?;
        Ok::<_, diesel::result::Error>(MemberChange::Done)
    })?)
}
