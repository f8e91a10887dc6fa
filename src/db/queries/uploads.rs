//! Which uploads rows refer to: the orphan sweep, and downloads' names.

use diesel::prelude::*;

use super::Result;
use crate::db::schema::{attachments, users};
use crate::db::DbConn;
use crate::with_conn;

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
