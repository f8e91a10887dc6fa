//! Messages: `send` through the group commit (ordered per thread, one transaction per batch,
//! attachment files kept or deleted with the outcome), `history` and `sync`.

use crate::db::models::Message;
use crate::db::queries::{self, AttachmentInput, InsertOutcome, NewMessageInput};
use crate::db::DbError;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::domain::validate;
use crate::registry::Skip;
use crate::storage::{
    attachment_extension, sniff_image, Kind, StoredFile, TempUpload, ATTACHMENT_THUMB_SIDE,
};

use super::events::{encode, Ack, ServerEvent};
use super::{Chat, Error, Origin, Result};

pub struct SendInput {
    pub thread_id: ThreadId,
    pub text: Option<String>,
    pub client_msg_id: Option<String>,
    /// Attachments as received; stored under random names once the send is admitted.
    pub files: Vec<TempUpload>,
}

/// Commit queues that order the messages of one thread; unrelated threads rarely share one.
pub(super) const THREAD_LOCK_STRIPES: usize = 1024;

/// A `send` waiting for its group commit.
pub(super) struct PendingSend {
    input: NewMessageInput,
    /// The files of `input.attachments`: the committer keeps or deletes them by the outcome.
    files: Vec<StoredFile>,
    origin: Option<Origin>,
    done: tokio::sync::oneshot::Sender<Result<InsertOutcome>>,
}

/// The sends of a stripe of threads waiting to be stored, and whether a committer is at work.
#[derive(Default)]
pub(super) struct CommitQueue {
    pending: Vec<PendingSend>,
    committing: bool,
}

/// Keeps the files of the messages the batch stored and deletes the others. When an outcome is
/// unknown (the commit or a later read failed), the database says which rows exist; when it
/// cannot say, the files stay, for the start-up sweep to judge.
pub(super) fn settle_files(
    conn: &mut crate::db::DbConn,
    outcomes: &std::result::Result<Vec<std::result::Result<InsertOutcome, DbError>>, DbError>,
    files: Vec<Vec<StoredFile>>,
) {
    let stored: Vec<Option<bool>> = match outcomes {
        Ok(outcomes) => outcomes
            .iter()
            .map(|outcome| match outcome {
                Ok(InsertOutcome::Created(_)) => Some(true),
                // nothing of this send was written: a retry's original, or no member
                Ok(InsertOutcome::Existing(_) | InsertOutcome::NotMember) => Some(false),
                Err(_) => None,
            })
            .collect(),
        Err(_) => vec![None; files.len()],
    };
    for (stored, files) in stored.into_iter().zip(files) {
        if files.is_empty() {
            continue;
        }
        let keep: Vec<bool> = match stored {
            Some(stored) => vec![stored; files.len()],
            None => {
                let urls: Vec<String> = files.iter().map(|f| f.url.clone()).collect();
                match queries::referenced_upload_urls(conn, &urls) {
                    Ok(found) => urls.iter().map(|u| found.contains(u)).collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot tell whether attachments were stored; keeping them");
                        vec![true; files.len()]
                    }
                }
            }
        };
        for (file, keep) in files.into_iter().zip(keep) {
            if keep {
                file.keep();
            }
            // dropped otherwise, which deletes it
        }
    }
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
            attachments: files.iter().map(attachment_input).collect(),
        };
        let (done, stored) = tokio::sync::oneshot::channel();
        // From here the files follow the commit, not this future: a handler dropped mid-commit
        // (a client reset) must not delete what the committer goes on to store.
        self.enqueue_send(PendingSend {
            input: db_input,
            files,
            origin,
            done,
        });
        let outcome = stored
            .await
            .map_err(|_| DbError::Batch("the commit of this message was abandoned".into()))??;
        let (message, created) = match outcome {
            InsertOutcome::Created(m) => (m, true),
            InsertOutcome::Existing(m) => (m, false),
            InsertOutcome::NotMember => return Err(self.not_member_or_missing(thread_id).await),
        };
        Ok((message, created))
    }

    /// Group commit: sends to threads of one stripe queue up while a committer task stores
    /// them, and the next batch is everything that queued meanwhile, stored in one transaction.
    /// One committer per stripe at a time is what orders a thread's messages: ids, acks and
    /// fan-out all follow the queue. The committer is a task of its own, so a sender that goes
    /// away mid-commit (a closed HTTP request) cannot strand the others.
    pub(super) fn enqueue_send(&self, send: PendingSend) {
        let stripe = (send.input.thread_id.0.unsigned_abs() as usize) % THREAD_LOCK_STRIPES;
        let start_committer = {
            let mut queue = self.commit_queue(stripe);
            queue.pending.push(send);
            !std::mem::replace(&mut queue.committing, true)
        };
        if start_committer {
            let chat = self.clone();
            tokio::spawn(async move { chat.commit_loop(stripe).await });
        }
    }

    pub(super) fn commit_queue(&self, stripe: usize) -> std::sync::MutexGuard<'_, CommitQueue> {
        self.inner.commit_queues[stripe]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(super) async fn commit_loop(&self, stripe: usize) {
        loop {
            let batch = {
                let mut queue = self.commit_queue(stripe);
                if queue.pending.is_empty() {
                    queue.committing = false;
                    return;
                }
                std::mem::take(&mut queue.pending)
            };
            self.commit_batch(batch).await;
        }
    }

    /// Stores a batch, then acks and fans out each message in order before answering its sender.
    pub(super) async fn commit_batch(&self, batch: Vec<PendingSend>) {
        let mut inputs = Vec::with_capacity(batch.len());
        let mut files = Vec::with_capacity(batch.len());
        let mut waiting = Vec::with_capacity(batch.len());
        for send in batch {
            inputs.push(send.input);
            files.push(send.files);
            waiting.push((send.origin, send.done));
        }
        metrics::histogram!("message_commit_batch_size").record(inputs.len() as f64);
        // The files are settled in the same blocking task as the transaction: once started it
        // runs to its end whatever happens to the futures awaiting it.
        let outcomes = match self
            .db()
            .run(move |c| {
                let outcomes = queries::insert_messages(c, &inputs);
                settle_files(c, &outcomes, files);
                outcomes
            })
            .await
        {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::error!(error = %e, "storing a batch of messages failed");
                for (_, done) in waiting {
                    let _ = done.send(Err(DbError::Batch(e.to_string()).into()));
                }
                return;
            }
        };
        for ((origin, done), outcome) in waiting.into_iter().zip(outcomes) {
            if let Ok(InsertOutcome::Created(message) | InsertOutcome::Existing(message)) = &outcome
            {
                self.announce_stored(
                    message,
                    matches!(outcome, Ok(InsertOutcome::Created(_))),
                    origin.as_ref(),
                )
                .await;
            }
            let _ = done.send(outcome.map_err(Error::from));
        }
    }

    /// The ack to the sender's connection, then (for a new message) the message to every member.
    pub(super) async fn announce_stored(
        &self,
        message: &Message,
        created: bool,
        origin: Option<&Origin>,
    ) {
        if let Some(origin) = origin {
            self.reply(
                origin,
                &encode(&ServerEvent::Ack(Ack {
                    message: Some(message),
                    ..Ack::empty(&origin.request_id)
                })),
            );
        }
        if !created {
            return;
        }
        metrics::counter!("messages_stored_total").increment(1);
        let members = match self.member_ids(message.thread_id).await {
            Ok(members) => members,
            Err(e) => {
                tracing::error!(error = %e, "could not load the members of a thread");
                return;
            }
        };
        let frame = encode(&ServerEvent::Message { message });
        let skip = Skip {
            user: None,
            conn: origin.map(|o| o.conn_id),
        };
        self.emit_to_thread(message.thread_id, &members, &frame, skip);
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

#[cfg(test)]
mod tests;
