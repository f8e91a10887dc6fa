//! Which uploads rows refer to: the orphan sweep, and downloads' names; what a new attachment
//! row is made of.

use diesel::prelude::*;

use super::Result;
use crate::db::models::NewAttachment;
use crate::db::schema::{attachments, users};
use crate::db::DbConn;
use crate::domain::ids::MessageId;
use crate::with_conn;

/// A file already stored on disk (with its thumbnail, for an image), to become an attachment
/// row of a new message.
#[derive(Debug, Clone)]
pub struct AttachmentInput {
    pub url: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumb_url: Option<String>,
}

impl AttachmentInput {
    pub fn row(&self, message_id: MessageId) -> NewAttachment {
        NewAttachment {
            message_id,
            url: self.url.clone(),
            name: self.name.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
            width: self.width,
            height: self.height,
            thumb_url: self.thumb_url.clone(),
        }
    }
}

/// Which of `urls` a row refers to: an attachment or its thumbnail, a user's avatar or its
/// thumbnail.
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
    let thumbs: Vec<Option<String>> = with_conn!(conn, c => attachments::table
        .filter(attachments::thumb_url.eq_any(urls))
        .select(attachments::thumb_url)
        .load(c))?;
    let avatars: Vec<Option<String>> = with_conn!(conn, c => users::table
        .filter(users::avatar_url.eq_any(urls))
        .select(users::avatar_url)
        .load(c))?;
    let avatar_thumbs: Vec<Option<String>> = with_conn!(conn, c => users::table
        .filter(users::avatar_thumb_url.eq_any(urls))
        .select(users::avatar_thumb_url)
        .load(c))?;
    found.extend(
        thumbs
            .into_iter()
            .chain(avatars)
            .chain(avatar_thumbs)
            .flatten(),
    );
    Ok(found)
}

/// The attachment stored at `url` (its file or its thumbnail): its display name and content
/// type.
pub fn attachment_by_url(conn: &mut DbConn, url: &str) -> Result<Option<(String, String)>> {
    Ok(with_conn!(conn, c => attachments::table
        .filter(attachments::url.eq(url).or(attachments::thumb_url.eq(url)))
        .select((attachments::name, attachments::content_type))
        .first(c)
        .optional())?)
}
