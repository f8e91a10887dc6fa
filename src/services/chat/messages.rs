//! Messages: `send` through the group commit ([`super::commit`]: ordered per thread, one
//! transaction per batch, attachment files kept or deleted with the outcome), `history` and
//! `sync {after}`.

use crate::db::models::Message;
use crate::db::queries::{self, AttachmentInput, Change, ChangeOutcome, NewMessageInput};
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::domain::validate;
use crate::storage::{
    attachment_extension, sniff_image, Kind, StoredFile, TempUpload, ATTACHMENT_THUMB_SIDE,
};

use super::lifecycle::refusal_error;
use super::{Chat, Error, Origin, Result};

pub struct SendInput {
    pub thread_id: ThreadId,
    pub text: Option<String>,
    pub client_msg_id: Option<String>,
    /// The message of the same thread this one answers.
    pub reply_to: Option<MessageId>,
    /// Attachments as received; stored under random names once the send is admitted.
    pub files: Vec<TempUpload>,
}

impl Chat {
    pub async fn history(
        &self,
        user_id: UserId,
        thread_id: ThreadId,
        before: Option<MessageId>,
        after: Option<MessageId>,
        limit: Option<i64>,
    ) -> Result<(Vec<Message>, bool)> {
        let limit = validate::limit(limit, 50, 100).map_err(Error::Validation)?;
        self.check_read(user_id).await?;
        self.require_member(user_id, thread_id).await?;
        Ok(self
            .db()
            .run(move |c| queries::history(c, thread_id, before, after, limit))
            .await?)
    }

    pub async fn sync(
        &self,
        user_id: UserId,
        after: MessageId,
        limit: Option<i64>,
    ) -> Result<(Vec<Message>, bool)> {
        let limit = validate::limit(limit, 500, 500).map_err(Error::Validation)?;
        self.check_read(user_id).await?;
        Ok(self
            .db()
            .run(move |c| queries::sync(c, user_id, after, limit))
            .await?)
    }

    /// The large-read bucket, shared by history, sync and message pages (HTTP and WebSocket).
    pub(super) async fn check_read(&self, user_id: UserId) -> Result<()> {
        self.inner
            .limits
            .check_read(user_id)
            .await
            .map_err(Error::RateLimited)
    }

    /// Stores a message and delivers it. Returns the message and whether it is new (`false`:
    /// a repeated clientMsgId, answered with the original and delivered to no one again).
    pub async fn send(
        &self,
        sender_id: UserId,
        input: SendInput,
        origin: Option<Origin>,
    ) -> Result<(Message, bool)> {
        if let Some(text) = &input.text {
            validate::message_text(text).map_err(Error::Validation)?;
        }
        if let Some(id) = &input.client_msg_id {
            validate::client_msg_id(id).map_err(Error::Validation)?;
        }
        if input.text.is_none() && input.files.is_empty() {
            return Err(Error::Validation(
                "A message needs text or at least one file".into(),
            ));
        }
        self.inner
            .limits
            .check_send(sender_id)
            .await
            .map_err(Error::RateLimited)?;
        let files = self.store_attachments(input.files).await?;

        let thread_id = input.thread_id;
        let db_input = NewMessageInput {
            thread_id,
            sender_id,
            text: input.text,
            client_msg_id: input.client_msg_id,
            reply_to: input.reply_to,
            attachments: files.iter().map(attachment_input).collect(),
        };
        let (message, created) = match self.commit(Change::Send(db_input), files, origin).await? {
            ChangeOutcome::Created(m) => (m, true),
            ChangeOutcome::Existing(m) => (m, false),
            ChangeOutcome::NotMember => return Err(self.not_member_or_missing(thread_id).await),
            ChangeOutcome::Refused(refusal) => return Err(refusal_error(refusal)),
            ChangeOutcome::Changed { .. } | ChangeOutcome::Unchanged(_) => {
                return Err(Error::Internal(
                    "a send was stored as another change".into(),
                ))
            }
        };
        Ok((message, created))
    }
}

impl Chat {
    /// `POST /threads/{id}/messages` asks this before it reads a body: a caller who may not
    /// write to the thread does not get to upload files first.
    pub async fn admit_post(&self, user_id: UserId, thread_id: ThreadId) -> Result<()> {
        self.require_member(user_id, thread_id).await.map(|_| ())
    }

    /// Moves received files under random names in `attachments/`; an image is judged by its
    /// bytes (and gets its size and thumbnail), anything else is typed by its name. Each
    /// deletes itself (thumbnail included) unless its row commits.
    async fn store_attachments(&self, uploads: Vec<TempUpload>) -> Result<Vec<StoredFile>> {
        let mut files = Vec::with_capacity(uploads.len());
        for upload in uploads {
            let sniffed = sniff_image(&upload.head);
            let is_image = sniffed.is_some();
            let (ext, content_type) = match sniffed {
                Some((ext, ct)) => (ext.to_owned(), ct.to_owned()),
                None => {
                    let ext = attachment_extension(&upload.display_name);
                    let ct = mime_guess::from_ext(&ext)
                        .first_or_octet_stream()
                        .essence_str()
                        .to_owned();
                    (ext, ct)
                }
            };
            let stored = self
                .inner
                .storage
                .persist(upload, Kind::Attachments, &ext, &content_type)
                .await?;
            let stored = if is_image {
                self.inner
                    .storage
                    .describe_image(stored, ATTACHMENT_THUMB_SIDE)
                    .await?
            } else {
                stored
            };
            files.push(stored);
        }
        Ok(files)
    }

    /// The display name and content type of the attachment stored at `url`: a file no row
    /// refers to (an orphan, or one whose message is not committed) is not found.
    pub async fn attachment_by_url(&self, url: String) -> Result<Option<(String, String)>> {
        Ok(self
            .db()
            .run(move |c| queries::attachment_by_url(c, &url))
            .await?)
    }
}

/// The row of an attachment stored on disk.
fn attachment_input(file: &StoredFile) -> AttachmentInput {
    // sizes come from a u32 header field; a side over i32::MAX pixels is stored as unknown
    let pixels = |n: Option<u32>| n.and_then(|n| i32::try_from(n).ok());
    AttachmentInput {
        url: file.url.clone(),
        name: file.name.clone(),
        content_type: file.content_type.clone(),
        size: file.size as i64,
        width: pixels(file.width),
        height: pixels(file.height),
        thumb_url: file.thumb_url.clone(),
    }
}
