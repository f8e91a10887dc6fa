//! Users: registration, lookups by name or id, the directory search, profile updates, and an
//! operator's listing and switch.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{lower, Result};
use crate::db::models::*;
use crate::db::schema::{sessions, users};
use crate::db::DbConn;
use crate::domain::ids::UserId;
use crate::{with_conn, write_tx};

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

/// An avatar's URLs: the file's, and its thumbnail's when one was made.
pub type AvatarUrls = (String, Option<String>);

/// Updates what is given (`avatar`: the new file's URL and its thumbnail's); returns the new
/// user and the avatar it replaced.
pub fn update_user(
    conn: &mut DbConn,
    id: UserId,
    nick_name: Option<&str>,
    avatar: Option<(&str, Option<&str>)>,
) -> Result<Option<(User, Option<AvatarUrls>)>> {
    Ok(write_tx!(conn, c => {
        let old: Option<(Option<String>, Option<String>)> = users::table
            .find(id)
            .select((users::avatar_url, users::avatar_thumb_url))
            .first(c)
            .optional()?;
        let Some((old_avatar, old_thumb)) = old else { return Ok(None) };
        if let Some(nick) = nick_name {
            diesel::update(users::table.find(id)).set(users::nick_name.eq(nick)).execute(c)?;
        }
        if let Some((url, thumb)) = avatar {
            diesel::update(users::table.find(id))
                .set((users::avatar_url.eq(url), users::avatar_thumb_url.eq(thumb)))
                .execute(c)?;
        }
        let user = users::table.find(id).select(User::as_select()).first(c)?;
        let replaced = match (avatar, old_avatar) {
            (Some(_), Some(old)) => Some((old, old_thumb)),
            _ => None,
        };
        Ok::<_, diesel::result::Error>(Some((user, replaced)))
    })?)
}

/// Every user, oldest first, with when they were disabled (an operator's listing).
pub fn list_users(conn: &mut DbConn) -> Result<Vec<(User, Option<NaiveDateTime>)>> {
    Ok(with_conn!(conn, c => users::table
        .order(users::id.asc())
        .select((User::as_select(), users::disabled_at))
        .load(c))?)
}

/// Disables (`Some(time)`) or enables (`None`) the user with this lower-cased name; `None`
/// when there is no such user. Disabling also ends every session of theirs, in one transaction.
pub fn set_disabled(
    conn: &mut DbConn,
    key: &str,
    disabled_at: Option<NaiveDateTime>,
) -> Result<Option<UserId>> {
    Ok(write_tx!(conn, c => {
        let Some(id) = users::table
            .filter(users::user_name_key.eq(key))
            .select(users::id)
            .first::<UserId>(c)
            .optional()?
        else {
            return Ok(None);
        };
        diesel::update(users::table.find(id))
            .set(users::disabled_at.eq(disabled_at))
            .execute(c)?;
        if let Some(now) = disabled_at {
            diesel::update(
                sessions::table
                    .filter(sessions::user_id.eq(id))
                    .filter(sessions::ended_at.is_null()),
            )
            .set(sessions::ended_at.eq(now))
            .execute(c)?;
        }
        Ok::<_, diesel::result::Error>(Some(id))
    })?)
}
