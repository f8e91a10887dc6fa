//! Full-text search over message text, one interface over each backend's own index: FTS5 on
//! SQLite (`messages_fts`), a GIN index of `to_tsvector('simple', body)` on PostgreSQL. The
//! query is built here from words the service has already cut out of the user's input (letters
//! and digits only), each quoted, so no input can be read as the engine's own syntax.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::messages::load_messages;
use super::Result;
use crate::db::models::Message;
use crate::db::DbConn;
use crate::domain::ids::{MessageId, ThreadId, UserId};

pub struct SearchQuery<'a> {
    pub user_id: UserId,
    /// Only this thread (the caller's membership is the service's check).
    pub thread_id: Option<ThreadId>,
    /// Every one must match, as a word or the start of one. Letters and digits only.
    pub words: &'a [String],
    pub before: Option<MessageId>,
    pub limit: i64,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// FTS5: every word a quoted prefix phrase, implicitly ANDed (`"word"*`).
fn fts5_match(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("\"{}\"*", w.replace('"', "")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// tsquery: every word a quoted prefix lexeme, ANDed (`'word':* & ...`).
fn tsquery(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{}':*", w.replace(['\'', '\\'], "")))
        .collect::<Vec<_>>()
        .join(" & ")
}

const SQLITE: &str = "SELECT f.rowid AS id FROM messages_fts f JOIN messages m ON m.id = f.rowid \
     WHERE messages_fts MATCH ? AND m.deleted = 0 \
     AND m.thread_id IN (SELECT thread_id FROM thread_members WHERE user_id = ?) \
     AND (? IS NULL OR m.thread_id = ?) AND (? IS NULL OR f.rowid < ?) \
     ORDER BY f.rowid DESC LIMIT ?";

const POSTGRES: &str = "SELECT m.id FROM messages m \
     WHERE to_tsvector('simple', regexp_replace(COALESCE(m.body, ''), '[[:punct:]]+', ' ', 'g')) \
     @@ to_tsquery('simple', $1) \
     AND m.deleted = FALSE \
     AND m.thread_id IN (SELECT thread_id FROM thread_members WHERE user_id = $2) \
     AND ($3::BIGINT IS NULL OR m.thread_id = $3) AND ($4::BIGINT IS NULL OR m.id < $4) \
     ORDER BY m.id DESC LIMIT $5";

/// Matching messages of the user's threads, newest first, and whether older ones match too.
pub fn search_messages(conn: &mut DbConn, q: &SearchQuery) -> Result<(Vec<Message>, bool)> {
    let thread = q.thread_id.map(|t| t.0);
    let before = q.before.map(|m| m.0);
    let found: Vec<Found> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(SQLITE)
            .bind::<Text, _>(fts5_match(q.words))
            .bind::<BigInt, _>(q.user_id.0)
            .bind::<Nullable<BigInt>, _>(thread)
            .bind::<Nullable<BigInt>, _>(thread)
            .bind::<Nullable<BigInt>, _>(before)
            .bind::<Nullable<BigInt>, _>(before)
            .bind::<BigInt, _>(q.limit + 1)
            .load(&mut **c)?,
        DbConn::Pg(c) => diesel::sql_query(POSTGRES)
            .bind::<Text, _>(tsquery(q.words))
            .bind::<BigInt, _>(q.user_id.0)
            .bind::<Nullable<BigInt>, _>(thread)
            .bind::<Nullable<BigInt>, _>(before)
            .bind::<BigInt, _>(q.limit + 1)
            .load(&mut **c)?,
    };
    let has_more = found.len() as i64 > q.limit;
    let ids: Vec<MessageId> = found
        .iter()
        .take(q.limit as usize)
        .map(|f| MessageId(f.id))
        .collect();
    let mut messages = load_messages(conn, &ids)?;
    // load_messages answers ascending; search is newest first
    messages.reverse();
    Ok((messages, has_more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_word_is_quoted_as_a_prefix() {
        let words = vec!["héllo".to_owned(), "wörld2".to_owned()];
        assert_eq!(fts5_match(&words), "\"héllo\"* \"wörld2\"*");
        assert_eq!(tsquery(&words), "'héllo':* & 'wörld2':*");
    }
}
