//! The lock a write takes on a thread's row before it judges membership: membership changes
//! and renames take it, and so does every change to the thread's messages, so that each sees
//! the other's outcome (on PostgreSQL a removed member's change is refused, not stored behind
//! the removal). SQLite's `BEGIN IMMEDIATE` already orders every writer, so there it is a read.
//!
//! It is never an update of the row's key (`SET id = id`): with foreign keys on, SQLite checks
//! every child row of an updated parent key, one index scan of the thread's messages per write.

use diesel::prelude::*;

use crate::db::models::ThreadRow;
use crate::db::schema::threads;
use crate::domain::ids::ThreadId;

pub(super) trait LockThread {
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
