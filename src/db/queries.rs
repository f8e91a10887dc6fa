//! Every query the server runs, written once for both backends.

use crate::domain::ids::{MessageId, ThreadId, UserId};
use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::models::*;
use super::schema::{attachments, messages, thread_members, threads, users};
use super::{DbConn, DbError};
use crate::{with_conn, write_tx};

diesel::define_sql_function!(fn lower(x: Text) -> Text);

type Result<T> = std::result::Result<T, DbError>;

// ---------------------------------------------------------------- users

pub fn insert_user(conn: &mut DbConn, new: &NewUser<'_>) -> Result<User> {
    Ok(with_conn!(conn, c => diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(c))?)
}

pub fn find_user_row_by_key(conn: &mut DbConn, key: &str) -> Result<Option<UserRow>> {
    Ok(with_conn!(conn, c => users::table
        .filter(users::user_name_key.eq(key))
        .select(UserRow::as_select())
        .first(c)
        .optional())?)
}

pub fn find_user(conn: &mut DbConn, id: UserId) -> Result<Option<User>> {
    Ok(with_conn!(conn, c => users::table
        .find(id)
        .select(User::as_select())
        .first(c)
        .optional())?)
}

pub fn count_existing_users(conn: &mut DbConn, ids: &[UserId]) -> Result<i64> {
    Ok(with_conn!(conn, c => users::table
        .filter(users::id.eq_any(ids))
        .count()
        .get_result(c))?)
}

/// Case-insensitive prefix match on userName or nickName.
pub fn search_users(conn: &mut DbConn, query: &str, limit: i64) -> Result<Vec<User>> {
    let escaped: String = query
        .to_lowercase()
        .chars()
        .flat_map(|ch| match ch {
            '%' | '_' | '\\' => vec!['\\', ch],
            _ => vec![ch],
        })
        .collect();
    let pattern = format!("{escaped}%");
    Ok(with_conn!(conn, c => users::table
        .filter(
            users::user_name_key
                .like(&pattern)
                .escape('\\')
                .or(lower(users::nick_name).like(&pattern).escape('\\')),
        )
        .order(users::id.asc())
        .limit(limit)
        .select(User::as_select())
        .load(c))?)
}

/// Updates what is given; returns the new user and the avatar it replaced.
pub fn update_user(
    conn: &mut DbConn,
    id: UserId,
    nick_name: Option<&str>,
    avatar_url: Option<&str>,
) -> Result<Option<(User, Option<String>)>> {
    Ok(write_tx!(conn, c => {
        let old: Option<Option<String>> = users::table
            .find(id)
            .select(users::avatar_url)
            .first(c)
            .optional()?;
        let Some(old_avatar) = old else { return Ok(None) };
        if let Some(nick) = nick_name {
            diesel::update(users::table.find(id)).set(users::nick_name.eq(nick)).execute(c)?;
        }
        if let Some(url) = avatar_url {
            diesel::update(users::table.find(id)).set(users::avatar_url.eq(url)).execute(c)?;
        }
        let user = users::table.find(id).select(User::as_select()).first(c)?;
        let replaced = if avatar_url.is_some() { old_avatar } else { None };
        Ok::<_, diesel::result::Error>(Some((user, replaced)))
    })?)
}

// ---------------------------------------------------------------- threads

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
trait LockThread {
    fn lock_thread(&mut self, thread_id: ThreadId) -> QueryResult<Option<ThreadRow>>;
}

impl LockThread for diesel::sqlite::SqliteConnection {
    fn lock_thread(&mut self, thread_id: ThreadId) -> QueryResult<Option<ThreadRow>> {
        threads::table
            .find(thread_id)
            .select(ThreadRow::as_select())
            .first(self)
            .optional()
    }
}

impl LockThread for diesel::pg::PgConnection {
    fn lock_thread(&mut self, thread_id: ThreadId) -> QueryResult<Option<ThreadRow>> {
        threads::table
            .find(thread_id)
            .select(ThreadRow::as_select())
            .for_update()
            .first(self)
            .optional()
    }
}

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
        let Some(row) = c.lock_thread(thread_id)? else { return Ok(MemberChange::NoThread) };
        let members: Vec<UserId> = thread_members::table
            .filter(thread_members::thread_id.eq(thread_id))
            .select(thread_members::user_id)
            .load(c)?;
        if !members.contains(&actor) {
            return Ok(MemberChange::NotMember);
        }
        if !row.is_group {
            return Ok(MemberChange::Direct);
        }
        if row.owner_id != Some(actor) {
            return Ok(MemberChange::NotOwner);
        }
        if members.contains(&user_id) {
            return Ok(MemberChange::Unchanged);
        }
        if members.len() as u64 >= max {
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
                .and(messages::sender_id.ne(thread_members::user_id))),
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

// ---------------------------------------------------------------- messages

pub struct NewMessageInput {
    pub thread_id: ThreadId,
    pub sender_id: UserId,
    pub text: Option<String>,
    pub client_msg_id: Option<String>,
    /// (url, name, content type, size) of files already stored on disk.
    pub attachments: Vec<(String, String, String, i64)>,
}

pub enum InsertOutcome {
    Created(Message),
    /// The same (thread, sender, clientMsgId) was stored before: the original.
    Existing(Message),
    NotMember,
}

/// Stores a message and its attachments in one transaction, idempotent on clientMsgId.
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
                    let rows: Vec<NewAttachment> = input
                        .attachments
                        .iter()
                        .map(|(url, name, content_type, size)| NewAttachment {
                            message_id: id,
                            url: url.clone(),
                            name: name.clone(),
                            content_type: content_type.clone(),
                            size: *size,
                        })
                        .collect();
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

pub fn ping(conn: &mut DbConn) -> Result<()> {
    with_conn!(conn, c => diesel::sql_query("SELECT 1").execute(c))?;
    Ok(())
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

// ---------------------------------------------------------------- uploads

/// Which of `urls` a row refers to (an attachment, or a user's avatar).
pub fn referenced_upload_urls(
    conn: &mut DbConn,
    urls: &[String],
) -> Result<std::collections::HashSet<String>> {
    let mut found: std::collections::HashSet<String> = with_conn!(conn, c => attachments::table
        .filter(attachments::url.eq_any(urls))
        .select(attachments::url)
        .load::<String>(c))?
    .into_iter()
    .collect();
    let avatars: Vec<Option<String>> = with_conn!(conn, c => users::table
        .filter(users::avatar_url.eq_any(urls))
        .select(users::avatar_url)
        .load(c))?;
    found.extend(avatars.into_iter().flatten());
    Ok(found)
}

/// The attachment stored at `url`: its display name and content type.
pub fn attachment_by_url(conn: &mut DbConn, url: &str) -> Result<Option<(String, String)>> {
    Ok(with_conn!(conn, c => attachments::table
        .filter(attachments::url.eq(url))
        .select((attachments::name, attachments::content_type))
        .first(c)
        .optional())?)
}
