//! The group commit every change to messages goes through: sends, edits, deletes and
//! reactions of threads of one stripe queue up while a committer task stores them, and the next
//! batch is everything that queued meanwhile, stored in one transaction. One committer per
//! stripe at a time is what orders a thread's changes on a node: ids, acks and fan-out all
//! follow the queue, so every connection sees a thread's messages in id order and its edits in
//! the order they were stored. The committer is a task of its own, so a requester that goes
//! away mid-commit (a closed HTTP request) cannot strand the others.

use crate::db::models::Message;
use crate::db::queries::{self, Change, ChangeOutcome};
use crate::db::DbError;
use crate::registry::Skip;
use crate::storage::StoredFile;

use super::events::{encode, Ack, ServerEvent};
use super::{Chat, Error, Origin, Result};

/// Commit queues that order the changes of one thread; unrelated threads rarely share one.
pub(super) const THREAD_LOCK_STRIPES: usize = 1024;

/// A change waiting for its group commit.
pub(super) struct PendingChange {
    pub change: Change,
    /// The files of a send's attachments: the committer keeps or deletes them by the outcome.
    pub files: Vec<StoredFile>,
    pub origin: Option<Origin>,
    pub done: tokio::sync::oneshot::Sender<Result<ChangeOutcome>>,
}

/// The changes of a stripe of threads waiting to be stored, and whether a committer is at work.
#[derive(Default)]
pub(super) struct CommitQueue {
    pending: Vec<PendingChange>,
    committing: bool,
}

type BatchOutcomes = std::result::Result<Vec<std::result::Result<ChangeOutcome, DbError>>, DbError>;

/// Keeps the files of the messages the batch stored and deletes the others. When an outcome is
/// unknown (the commit or a later read failed), the database says which rows exist; when it
/// cannot say, the files stay, for the start-up sweep to judge.
fn settle_files(
    conn: &mut crate::db::DbConn,
    outcomes: &BatchOutcomes,
    files: Vec<Vec<StoredFile>>,
) {
    let stored: Vec<Option<bool>> = match outcomes {
        Ok(outcomes) => outcomes
            .iter()
            .map(|outcome| match outcome {
                Ok(ChangeOutcome::Created(_)) => Some(true),
                Err(_) => None,
                // nothing of this send was written: a retry's original, no member, refused
                Ok(_) => Some(false),
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
    /// Queues a change for its thread's committer and waits for its outcome.
    pub(super) async fn commit(
        &self,
        change: Change,
        files: Vec<StoredFile>,
        origin: Option<Origin>,
    ) -> Result<ChangeOutcome> {
        let (done, stored) = tokio::sync::oneshot::channel();
        // From here the files follow the commit, not this future: a handler dropped mid-commit
        // (a client reset) must not delete what the committer goes on to store.
        self.enqueue(PendingChange {
            change,
            files,
            origin,
            done,
        });
        stored
            .await
            .map_err(|_| DbError::Batch("the commit of this change was abandoned".into()))?
    }

    fn enqueue(&self, change: PendingChange) {
        let stripe = (change.change.thread_id().0.unsigned_abs() as usize) % THREAD_LOCK_STRIPES;
        let start_committer = {
            let mut queue = self.commit_queue(stripe);
            queue.pending.push(change);
            !std::mem::replace(&mut queue.committing, true)
        };
        if start_committer {
            let chat = self.clone();
            tokio::spawn(async move { chat.commit_loop(stripe).await });
        }
    }

    fn commit_queue(&self, stripe: usize) -> std::sync::MutexGuard<'_, CommitQueue> {
        self.inner.commit_queues[stripe]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    async fn commit_loop(&self, stripe: usize) {
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

    /// Stores a batch, then acks and fans out each change in order before answering its
    /// requester.
    async fn commit_batch(&self, batch: Vec<PendingChange>) {
        let mut changes = Vec::with_capacity(batch.len());
        let mut files = Vec::with_capacity(batch.len());
        let mut waiting = Vec::with_capacity(batch.len());
        for pending in batch {
            changes.push(pending.change);
            files.push(pending.files);
            waiting.push((pending.origin, pending.done));
        }
        metrics::histogram!("message_commit_batch_size").record(changes.len() as f64);
        // The files are settled in the same blocking task as the transaction: once started it
        // runs to its end whatever happens to the futures awaiting it.
        let outcomes = match self
            .db()
            .run(move |c| {
                let outcomes = queries::apply_changes(c, &changes);
                settle_files(c, &outcomes, files);
                outcomes
            })
            .await
        {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::error!(error = %e, "storing a batch of changes failed");
                for (_, done) in waiting {
                    let _ = done.send(Err(DbError::Batch(e.to_string()).into()));
                }
                return;
            }
        };
        for ((origin, done), outcome) in waiting.into_iter().zip(outcomes) {
            if let Ok(outcome) = &outcome {
                self.announce(outcome, origin.as_ref()).await;
            }
            let _ = done.send(outcome.map_err(Error::from));
        }
    }

    /// The ack to the requesting connection, then (for a change) the event to every member.
    async fn announce(&self, outcome: &ChangeOutcome, origin: Option<&Origin>) {
        let (message, event): (&Message, Option<ServerEvent>) = match outcome {
            ChangeOutcome::Created(message) => {
                metrics::counter!("messages_stored_total").increment(1);
                (message, Some(ServerEvent::Message { message }))
            }
            ChangeOutcome::Changed {
                message,
                removed_uploads,
            } => {
                metrics::counter!("message_changes_total").increment(1);
                for (url, thumb_url) in removed_uploads {
                    self.inner
                        .storage
                        .delete_with_thumbnail(url, thumb_url.as_deref())
                        .await;
                }
                (message, Some(ServerEvent::MessageUpdated { message }))
            }
            ChangeOutcome::Existing(message) | ChangeOutcome::Unchanged(message) => (message, None),
            ChangeOutcome::NotMember | ChangeOutcome::Refused(_) => return,
        };
        if let Some(origin) = origin {
            self.reply(
                origin,
                &encode(&ServerEvent::Ack(Ack {
                    message: Some(message),
                    ..Ack::empty(&origin.request_id)
                })),
            );
        }
        let Some(event) = event else {
            return;
        };
        let members = match self.member_ids(message.thread_id).await {
            Ok(members) => members,
            Err(e) => {
                tracing::error!(error = %e, "could not load the members of a thread");
                return;
            }
        };
        let skip = Skip {
            user: None,
            conn: origin.map(|o| o.conn_id),
        };
        self.emit_to_thread(message.thread_id, &members, &encode(&event), skip);
    }
}

#[cfg(test)]
mod tests;
