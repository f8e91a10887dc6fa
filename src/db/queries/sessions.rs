//! Login sessions and their refresh tokens (stored as hashes only): open, refresh with
//! rotation and reuse detection, list, end.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::Result;
use crate::db::models::*;
use crate::db::schema::{sessions, spent_refresh_tokens, users};
use crate::db::DbConn;
use crate::domain::ids::{SessionId, UserId};
use crate::{with_conn, write_tx};

/// Ends one session if it is open; `true` when this call ended it.
macro_rules! end_open {
    ($c:expr, $session:expr, $now:expr) => {
        diesel::update(
            sessions::table
                .filter(sessions::id.eq($session))
                .filter(sessions::ended_at.is_null()),
        )
        .set(sessions::ended_at.eq($now))
        .execute($c)
        .map(|n| n == 1)
    };
}

/// Ends every open session of the user but one, inside a transaction; evaluates to the ids of
/// those used since `used_after`.
macro_rules! end_others {
    ($c:expr, $user:expr, $keep:expr, $used_after:expr, $now:expr) => {{
        let open = sessions::table
            .filter(sessions::user_id.eq($user))
            .filter(sessions::ended_at.is_null())
            .filter(sessions::id.ne($keep));
        let live: Vec<SessionId> = open
            .filter(sessions::last_used_at.gt($used_after))
            .select(sessions::id)
            .load($c)?;
        diesel::update(open)
            .set(sessions::ended_at.eq($now))
            .execute($c)?;
        Ok::<_, diesel::result::Error>(live)
    }};
}

pub fn insert_session(conn: &mut DbConn, new: &NewSession<'_>) -> Result<SessionId> {
    Ok(with_conn!(conn, c => diesel::insert_into(sessions::table)
        .values(new)
        .returning(sessions::id)
        .get_result(c))?)
}

/// Whether `id` is a session of `user_id` that has not ended.
pub fn session_is_open(conn: &mut DbConn, user_id: UserId, id: SessionId) -> Result<bool> {
    let found: Option<SessionId> = with_conn!(conn, c => sessions::table
        .filter(sessions::id.eq(id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .select(sessions::id)
        .first(c)
        .optional())?;
    Ok(found.is_some())
}

/// Which of these sessions have ended: what a node checks its sockets against when it may have
/// missed the relay's word (after a Redis outage).
pub fn ended_among(conn: &mut DbConn, ids: &[SessionId]) -> Result<Vec<(UserId, SessionId)>> {
    let mut ended = Vec::new();
    for chunk in ids.chunks(1000) {
        let found: Vec<(UserId, SessionId)> = with_conn!(conn, c => sessions::table
            .filter(sessions::id.eq_any(chunk))
            .filter(sessions::ended_at.is_not_null())
            .select((sessions::user_id, sessions::id))
            .load(c))?;
        ended.extend(found);
    }
    Ok(ended)
}

/// Sessions ended at or after `since`: what each node closes its sockets by, whoever ended them
/// (another node while Redis was away, or an operator's command).
pub fn ended_since(conn: &mut DbConn, since: NaiveDateTime) -> Result<Vec<(UserId, SessionId)>> {
    Ok(with_conn!(conn, c => sessions::table
        .filter(sessions::ended_at.ge(since))
        .select((sessions::user_id, sessions::id))
        .load(c))?)
}

/// What presenting a refresh token came to.
#[derive(Debug)]
pub enum Refreshed {
    /// The token was current: it is spent now, and `new_hash` is the session's token.
    Rotated { session: SessionId, user: UserId },
    /// The token was spent already: its session is ended now (`ended`: by this call).
    Reused {
        session: SessionId,
        user: UserId,
        ended: bool,
    },
    /// Unknown, expired, or of an ended session.
    Refused,
}

/// The times one refresh is judged by.
#[derive(Debug, Clone, Copy)]
pub struct RefreshClock {
    pub now: NaiveDateTime,
    /// A refresh token issued at or before this has expired.
    pub issued_after: NaiveDateTime,
}

/// Exchanges the refresh token whose hash is `old_hash` for `new_hash`, in one transaction.
/// Two requests racing with one token: one rotates it, the other finds it spent (PostgreSQL
/// re-checks the row's hash after the first commits), so that race is a reuse too.
pub fn refresh_session(
    conn: &mut DbConn,
    old_hash: &str,
    new_hash: &str,
    clock: RefreshClock,
) -> Result<Refreshed> {
    Ok(write_tx!(conn, c => {
        let current: Option<(SessionId, UserId, NaiveDateTime, Option<NaiveDateTime>)> =
            sessions::table
                .filter(sessions::refresh_hash.eq(old_hash))
                .select((
                    sessions::id,
                    sessions::user_id,
                    sessions::refresh_issued_at,
                    sessions::ended_at,
                ))
                .first(c)
                .optional()?;
        if let Some((session, user, issued_at, ended_at)) = current {
            if ended_at.is_some() || issued_at <= clock.issued_after {
                return Ok::<_, diesel::result::Error>(Refreshed::Refused);
            }
            let rotated = diesel::update(
                sessions::table
                    .filter(sessions::id.eq(session))
                    .filter(sessions::refresh_hash.eq(old_hash))
                    .filter(sessions::ended_at.is_null()),
            )
            .set((
                sessions::refresh_hash.eq(new_hash),
                sessions::refresh_issued_at.eq(clock.now),
                sessions::last_used_at.eq(clock.now),
            ))
            .execute(c)?;
            if rotated == 1 {
                diesel::insert_into(spent_refresh_tokens::table)
                    .values(&SpentRefreshToken {
                        token_hash: old_hash,
                        session_id: session,
                        spent_at: clock.now,
                    })
                    .execute(c)?;
                // spent tokens older than a token lives are expired anyway: no need to keep them
                diesel::delete(
                    spent_refresh_tokens::table
                        .filter(spent_refresh_tokens::session_id.eq(session))
                        .filter(spent_refresh_tokens::spent_at.le(clock.issued_after)),
                )
                .execute(c)?;
                return Ok(Refreshed::Rotated { session, user });
            }
            let ended = end_open!(c, session, clock.now)?;
            return Ok(Refreshed::Reused { session, user, ended });
        }
        let spent: Option<SessionId> = spent_refresh_tokens::table
            .filter(spent_refresh_tokens::token_hash.eq(old_hash))
            .select(spent_refresh_tokens::session_id)
            .first(c)
            .optional()?;
        let spent: Option<(SessionId, UserId)> = match spent {
            Some(session) => sessions::table
                .find(session)
                .select((sessions::id, sessions::user_id))
                .first(c)
                .optional()?,
            None => None,
        };
        match spent {
            Some((session, user)) => {
                let ended = end_open!(c, session, clock.now)?;
                Ok(Refreshed::Reused { session, user, ended })
            }
            None => Ok(Refreshed::Refused),
        }
    })?)
}

/// The user's sessions that are open and used since `used_after` (older ones hold no token
/// that still works), newest first.
pub fn live_sessions(
    conn: &mut DbConn,
    user_id: UserId,
    used_after: NaiveDateTime,
) -> Result<Vec<SessionRow>> {
    Ok(with_conn!(conn, c => sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::last_used_at.gt(used_after))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(SessionRow::as_select())
        .load(c))?)
}

/// Ends one open session of `user_id`; `false` when there is none by that id.
pub fn end_session(
    conn: &mut DbConn,
    user_id: UserId,
    id: SessionId,
    now: NaiveDateTime,
) -> Result<bool> {
    Ok(with_conn!(conn, c => diesel::update(
            sessions::table
                .filter(sessions::id.eq(id))
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::ended_at.is_null()),
        )
        .set(sessions::ended_at.eq(now))
        .execute(c))?
        == 1)
}

/// Ends every open session of `user_id` but `keep`; returns those that were live (used since
/// `used_after`: the others hold no working token and no socket).
pub fn end_other_sessions(
    conn: &mut DbConn,
    user_id: UserId,
    keep: SessionId,
    used_after: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<Vec<SessionId>> {
    Ok(write_tx!(conn, c => end_others!(c, user_id, keep, used_after, now))?)
}

/// A new password hash for the user, and every other session of theirs ended, at once.
pub fn change_password(
    conn: &mut DbConn,
    user_id: UserId,
    password_hash: &str,
    keep: SessionId,
    used_after: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<Vec<SessionId>> {
    Ok(write_tx!(conn, c => {
        diesel::update(users::table.find(user_id))
            .set(users::password_hash.eq(password_hash))
            .execute(c)?;
        end_others!(c, user_id, keep, used_after, now)
    })?)
}

/// A new user and their first session, in one transaction (registration opens a session).
pub fn insert_user_with_session(
    conn: &mut DbConn,
    new: &NewUser<'_>,
    refresh_hash: &str,
    user_agent: Option<&str>,
) -> Result<(User, SessionId)> {
    Ok(write_tx!(conn, c => {
        let user: User = diesel::insert_into(users::table)
            .values(new)
            .returning(User::as_returning())
            .get_result(c)?;
        let session = diesel::insert_into(sessions::table)
            .values(&NewSession {
                user_id: user.id,
                refresh_hash,
                refresh_issued_at: new.created_at,
                user_agent,
                created_at: new.created_at,
                last_used_at: new.created_at,
            })
            .returning(sessions::id)
            .get_result(c)?;
        Ok::<_, diesel::result::Error>((user, session))
    })?)
}
