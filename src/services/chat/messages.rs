//! Messages: `send` through the group commit (ordered per thread, one transaction per batch,
//! attachment files kept or deleted with the outcome), `history` and `sync`.

use crate::db::models::Message;
use crate::db::queries::{self, InsertOutcome, NewMessageInput};
use crate::db::DbError;
use crate::domain::ids::{MessageId, ThreadId, UserId};
use crate::domain::validate;
use crate::registry::Skip;
use crate::storage::StoredFile;

use super::events::{encode, Ack, ServerEvent};
use super::{Chat, Error, Origin, Result};

pub struct SendInput {
    pub thread_id: ThreadId,
    pub text: Option<String>,
    pub client_msg_id: Option<String>,
    pub files: Vec<StoredFile>,
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
        limit: i64,
    ) -> Result<(Vec<Message>, bool)> {
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
        limit: i64,
    ) -> Result<(Vec<Message>, bool)> {
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

        let thread_id = input.thread_id;
        let db_input = NewMessageInput {
            thread_id,
            sender_id,
            text: input.text,
            client_msg_id: input.client_msg_id,
            attachments: input
                .files
                .iter()
                .map(|f| {
                    (
                        f.url.clone(),
                        f.name.clone(),
                        f.content_type.clone(),
                        f.size as i64,
                    )
                })
                .collect(),
        };
        let (done, stored) = tokio::sync::oneshot::channel();
        // From here the files follow the commit, not this future: a handler dropped mid-commit
        // (a client reset) must not delete what the committer goes on to store.
        self.enqueue_send(PendingSend {
            input: db_input,
            files: input.files,
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
    /// The display name and content type of the attachment stored at `url`: a file no row
    /// refers to (an orphan, or one whose message is not committed) is not found.
    pub async fn attachment_by_url(&self, url: String) -> Result<Option<(String, String)>> {
        Ok(self
            .db()
            .run(move |c| queries::attachment_by_url(c, &url))
            .await?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::*;
    use crate::db::models::NewUser;
    use crate::db::Db;
    use crate::domain::ids::ConnId;
    use crate::limits::Limits;
    use crate::registry::{ConnHandle, Outbox, Registry};

    /// A chat service on a fresh database: a SQLite file in a temp dir, or a fresh PostgreSQL
    /// database when `CHAT_TEST_PG_URL` is set (as the integration suite does).
    async fn fixture() -> (Chat, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = dir.path().join("chat.db").to_string_lossy().into_owned();
        // connecting and migrating are synchronous: off the async worker
        let db = tokio::task::spawn_blocking(move || {
            let url = match std::env::var("CHAT_TEST_PG_URL") {
                Ok(admin) => fresh_pg_database(&admin),
                Err(_) => sqlite,
            };
            Db::connect(&url)
        })
        .await
        .unwrap()
        .unwrap();
        let chat = Chat::new(
            db,
            Arc::new(Registry::new()),
            Arc::new(Limits::new(false, None, "").unwrap()),
            1000,
            None,
        );
        (chat, dir)
    }

    fn fresh_pg_database(admin: &str) -> String {
        use diesel::{Connection, RunQueryDsl};
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "chat_unit_{}_{}_{}",
            std::process::id(),
            nanos,
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut conn = diesel::PgConnection::establish(admin).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .unwrap();
        let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
        format!("{base}/{name}")
    }

    async fn user(chat: &Chat, name: &'static str) -> UserId {
        chat.db()
            .run(move |c| {
                queries::insert_user(
                    c,
                    &NewUser {
                        user_name: name,
                        user_name_key: name,
                        nick_name: name,
                        password_hash: "not a hash",
                        avatar_url: None,
                        created_at: chrono::Utc::now().naive_utc(),
                    },
                )
            })
            .await
            .unwrap()
            .id
    }

    async fn group(chat: &Chat, owner: UserId, members: &[UserId]) -> ThreadId {
        let members = members.to_vec();
        chat.db()
            .run(move |c| queries::create_group(c, owner, "group", &members))
            .await
            .unwrap()
            .id
    }

    /// Registers a live connection the way the WebSocket task does, minus the socket.
    fn connect(chat: &Chat, user_id: UserId, conn_id: u64) -> Arc<Outbox> {
        let outbox = Arc::new(Outbox::new(100_000, usize::MAX));
        chat.registry().register(
            user_id,
            ConnHandle {
                conn_id: ConnId(conn_id),
                outbox: outbox.clone(),
            },
        );
        outbox
    }

    fn origin(user_id: UserId, conn_id: u64, request: Value) -> Option<Origin> {
        Some(Origin {
            user_id,
            conn_id: ConnId(conn_id),
            request_id: request,
        })
    }

    #[derive(Debug, PartialEq)]
    enum Seen {
        Ack { request: Value, id: MessageId },
        Message(MessageId),
    }

    impl Seen {
        fn id(&self) -> MessageId {
            match self {
                Seen::Ack { id, .. } | Seen::Message(id) => *id,
            }
        }
    }

    /// The `ack` and `message` frames queued on a connection, in queue order.
    fn seen(outbox: &Outbox) -> Vec<Seen> {
        outbox
            .take_all()
            .iter()
            .map(|frame| {
                let v: Value = serde_json::from_str(frame).unwrap();
                let id = MessageId(v["message"]["id"].as_i64().unwrap());
                match v["type"].as_str() {
                    Some("ack") => Seen::Ack {
                        request: v["id"].clone(),
                        id,
                    },
                    Some("message") => Seen::Message(id),
                    other => panic!("unexpected frame {other:?}: {frame}"),
                }
            })
            .collect()
    }

    fn ids(seen: &[Seen]) -> Vec<MessageId> {
        seen.iter().map(Seen::id).collect()
    }

    fn strictly_ascending(ids: &[MessageId]) -> bool {
        ids.windows(2).all(|w| w[0] < w[1])
    }

    fn stripe_of(thread_id: ThreadId) -> usize {
        (thread_id.0.unsigned_abs() as usize) % THREAD_LOCK_STRIPES
    }

    /// Makes the stripe look busy, so that sends queue up as they do behind a batch in commit,
    /// and no committer takes them until [`release`].
    fn hold(chat: &Chat, stripe: usize) {
        let mut queue = chat.commit_queue(stripe);
        assert!(!queue.committing, "the stripe is idle before the test");
        queue.committing = true;
    }

    /// Waits until `count` sends are queued on the held stripe; returns their clientMsgIds in
    /// queue order (the order the committer will take them).
    async fn queued(chat: &Chat, stripe: usize, count: usize) -> Vec<Option<String>> {
        let wait = async {
            loop {
                {
                    let queue = chat.commit_queue(stripe);
                    if queue.pending.len() >= count {
                        return queue
                            .pending
                            .iter()
                            .map(|p| p.input.client_msg_id.clone())
                            .collect::<Vec<_>>();
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        // a hang guard only, not a timing assertion
        tokio::time::timeout(Duration::from_secs(120), wait)
            .await
            .expect("the sends never queued up")
    }

    /// Starts the committer that [`hold`] kept away (`committing` stays set: it is its flag).
    fn release(chat: &Chat, stripe: usize) {
        let chat = chat.clone();
        tokio::spawn(async move { chat.commit_loop(stripe).await });
    }

    fn text(thread_id: ThreadId, text: &str, client_msg_id: Option<&str>) -> SendInput {
        SendInput {
            thread_id,
            text: Some(text.into()),
            client_msg_id: client_msg_id.map(str::to_owned),
            files: Vec::new(),
        }
    }

    async fn history(chat: &Chat, user_id: UserId, thread_id: ThreadId) -> Vec<Message> {
        chat.history(user_id, thread_id, None, None, 1000)
            .await
            .unwrap()
            .0
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_is_stored_acked_and_fanned_out_in_queue_order() {
        let (chat, _dir) = fixture().await;
        let alice = user(&chat, "alice").await;
        let bob = user(&chat, "bob").await;
        let carol = user(&chat, "carol").await;
        let dave = user(&chat, "dave").await;
        let thread = group(&chat, alice, &[alice, bob, carol]).await;
        let a1 = connect(&chat, alice, 1);
        let a2 = connect(&chat, alice, 2);
        let b1 = connect(&chat, bob, 3);
        let c1 = connect(&chat, carol, 4);
        let c2 = connect(&chat, carol, 5);
        let d1 = connect(&chat, dave, 6);

        // Wave 1: alice's sends queue up behind a (held) commit and form one batch.
        const WAVE: usize = 24;
        let stripe = stripe_of(thread);
        hold(&chat, stripe);
        let mut wave1 = Vec::new();
        for i in 0..WAVE {
            let chat = chat.clone();
            wave1.push(tokio::spawn(async move {
                let cmid = format!("a{i}");
                let input = text(thread, &cmid, Some(&cmid));
                chat.send(alice, input, origin(alice, 1, json!(cmid))).await
            }));
        }
        let order = queued(&chat, stripe, WAVE).await;
        assert_eq!(order.len(), WAVE, "all of wave 1 is in one batch");
        assert!(history(&chat, alice, thread).await.is_empty());
        assert_eq!(a1.queued() + b1.queued() + c1.queued(), 0);

        // Waves 2 and 3 (bob over a connection, carol without one, as over HTTP) race the
        // commit of wave 1 and the batches after it.
        release(&chat, stripe);
        let mut later = Vec::new();
        for i in 0..WAVE {
            let for_bob = chat.clone();
            later.push(tokio::spawn(async move {
                let cmid = format!("b{i}");
                let input = text(thread, &cmid, Some(&cmid));
                for_bob.send(bob, input, origin(bob, 3, json!(cmid))).await
            }));
            let for_carol = chat.clone();
            later.push(tokio::spawn(async move {
                let cmid = format!("c{i}");
                let input = text(thread, &cmid, Some(&cmid));
                for_carol.send(carol, input, None).await
            }));
        }

        let mut by_cmid = std::collections::HashMap::new();
        for task in wave1.into_iter().chain(later) {
            let (message, created) = task.await.unwrap().unwrap();
            assert!(created);
            by_cmid.insert(message.client_msg_id.clone().unwrap(), message.id);
        }
        assert_eq!(by_cmid.len(), 3 * WAVE);

        // ids follow the order the committer took wave 1
        let wave1_ids: Vec<MessageId> = order
            .iter()
            .map(|cmid| by_cmid[cmid.as_deref().unwrap()])
            .collect();
        assert!(
            strictly_ascending(&wave1_ids),
            "ids in queue order: {wave1_ids:?}"
        );
        let bob_ids: BTreeSet<MessageId> = (0..WAVE).map(|i| by_cmid[&format!("b{i}")]).collect();
        let all: BTreeSet<MessageId> = by_cmid.values().copied().collect();

        let stored: Vec<MessageId> = history(&chat, alice, thread)
            .await
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(stored, all.iter().copied().collect::<Vec<_>>());

        // The sending connection: each of its messages as an ack, in queue order, and the
        // others' messages as events, all in id order.
        let a1 = seen(&a1);
        assert!(strictly_ascending(&ids(&a1)), "{a1:?}");
        assert_eq!(ids(&a1).into_iter().collect::<BTreeSet<_>>(), all);
        let acks: Vec<&Value> = a1
            .iter()
            .filter_map(|s| match s {
                Seen::Ack { request, .. } => Some(request),
                Seen::Message(_) => None,
            })
            .collect();
        let expected: Vec<Value> = order.iter().map(|c| json!(c)).collect();
        assert_eq!(acks, expected.iter().collect::<Vec<_>>());
        for s in &a1 {
            if let Seen::Ack { request, id } = s {
                assert_eq!(by_cmid[request.as_str().unwrap()], *id);
            }
        }

        // bob's connection: its acks and everyone else's messages, in id order
        let b1 = seen(&b1);
        assert!(strictly_ascending(&ids(&b1)), "{b1:?}");
        assert_eq!(ids(&b1).into_iter().collect::<BTreeSet<_>>(), all);
        let b1_acked: BTreeSet<MessageId> = b1
            .iter()
            .filter(|s| matches!(s, Seen::Ack { .. }))
            .map(Seen::id)
            .collect();
        assert_eq!(b1_acked, bob_ids);

        // Every other member connection (alice's second one too): every message once, in order.
        for (name, outbox) in [("a2", &a2), ("c1", &c1), ("c2", &c2)] {
            let frames = seen(outbox);
            assert!(
                frames.iter().all(|s| matches!(s, Seen::Message(_))),
                "{name}: {frames:?}"
            );
            let ids = ids(&frames);
            assert!(strictly_ascending(&ids), "{name}: {ids:?}");
            assert_eq!(ids, all.iter().copied().collect::<Vec<_>>(), "{name}");
        }
        assert!(seen(&d1).is_empty(), "no frame reaches a non-member");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_retry_in_the_same_batch_or_later_returns_the_original() {
        let (chat, _dir) = fixture().await;
        let alice = user(&chat, "alice").await;
        let bob = user(&chat, "bob").await;
        let thread = chat
            .db()
            .run(move |c| queries::get_or_create_direct(c, alice, bob))
            .await
            .unwrap()
            .0
            .id;
        let a1 = connect(&chat, alice, 1);
        let b1 = connect(&chat, bob, 2);

        // Both copies race inside one batch: neither finds the other before the transaction.
        let stripe = stripe_of(thread);
        hold(&chat, stripe);
        let sends: Vec<_> = [1, 2]
            .into_iter()
            .map(|request| {
                let chat = chat.clone();
                tokio::spawn(async move {
                    chat.send(
                        alice,
                        text(thread, "hello", Some("same")),
                        origin(alice, 1, json!(request)),
                    )
                    .await
                })
            })
            .collect();
        assert_eq!(queued(&chat, stripe, 2).await.len(), 2);
        release(&chat, stripe);
        let mut answers = Vec::new();
        for send in sends {
            answers.push(send.await.unwrap().unwrap());
        }
        let original = answers[0].0.id;
        assert_eq!(answers[1].0.id, original, "both get the same message");
        let mut created: Vec<bool> = answers.iter().map(|(_, c)| *c).collect();
        created.sort();
        assert_eq!(created, [false, true], "one stored it, one found it");

        let stored = history(&chat, alice, thread).await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].id, original);

        let a1_frames = seen(&a1);
        assert_eq!(a1_frames.len(), 2, "{a1_frames:?}");
        assert!(a1_frames
            .iter()
            .all(|s| matches!(s, Seen::Ack { id, .. } if *id == original)));
        assert_eq!(seen(&b1), [Seen::Message(original)], "delivered once");

        // A retry after the original committed.
        let (message, created) = chat
            .send(
                alice,
                text(thread, "hello", Some("same")),
                origin(alice, 1, json!(3)),
            )
            .await
            .unwrap();
        assert_eq!((message.id, created), (original, false));
        assert_eq!(
            seen(&a1),
            [Seen::Ack {
                request: json!(3),
                id: original
            }]
        );
        assert!(seen(&b1).is_empty(), "a retry is not delivered again");

        // The key is per sender: bob's "same" is a message of its own.
        let (message, created) = chat
            .send(bob, text(thread, "hi", Some("same")), None)
            .await
            .unwrap();
        assert!(created);
        assert_ne!(message.id, original);
        assert_eq!(history(&chat, bob, thread).await.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_send_leaves_the_rest_of_its_batch_stored() {
        let (chat, _dir) = fixture().await;
        let alice = user(&chat, "alice").await;
        let bob = user(&chat, "bob").await;
        let dave = user(&chat, "dave").await;
        let thread = group(&chat, alice, &[alice, bob]).await;
        // no such thread, and in the same stripe, so in the same batch
        let missing = ThreadId(thread.0 + THREAD_LOCK_STRIPES as i64);
        let a1 = connect(&chat, alice, 1);
        let b1 = connect(&chat, bob, 2);
        let d1 = connect(&chat, dave, 3);

        let stripe = stripe_of(thread);
        assert_eq!(stripe_of(missing), stripe);
        hold(&chat, stripe);
        let spawn_send = |sender: UserId, conn: u64, thread_id: ThreadId, cmid: &str| {
            let chat = chat.clone();
            let input = text(thread_id, cmid, Some(cmid));
            let origin = origin(sender, conn, json!(cmid));
            tokio::spawn(async move { chat.send(sender, input, origin).await })
        };
        let before = spawn_send(alice, 1, thread, "before");
        let outsider = spawn_send(dave, 3, thread, "outsider");
        let nowhere = spawn_send(alice, 1, missing, "nowhere");
        let after = spawn_send(alice, 1, thread, "after");
        let order = queued(&chat, stripe, 4).await;
        assert_eq!(order.len(), 4, "one batch: {order:?}");
        release(&chat, stripe);

        let before = before
            .await
            .unwrap()
            .expect("a member's send beside a refused one");
        let after = after
            .await
            .unwrap()
            .expect("a member's send beside a refused one");
        assert!(before.1 && after.1, "both are new");
        let outsider = outsider.await.unwrap();
        assert!(matches!(outsider, Err(Error::NotMember)), "{outsider:?}");
        let nowhere = nowhere.await.unwrap();
        assert!(matches!(nowhere, Err(Error::NotFound(_))), "{nowhere:?}");

        // in the order the committer took them
        let expected: Vec<MessageId> = order
            .iter()
            .filter_map(|cmid| match cmid.as_deref() {
                Some("before") => Some(before.0.id),
                Some("after") => Some(after.0.id),
                _ => None,
            })
            .collect();
        assert!(strictly_ascending(&expected), "{order:?} {expected:?}");
        let stored: Vec<MessageId> = history(&chat, alice, thread)
            .await
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(stored, expected, "the batch's other messages are stored");
        assert_eq!(
            ids(&seen(&b1)),
            expected,
            "and delivered, in order, once each"
        );
        let a1_frames = seen(&a1);
        assert_eq!(ids(&a1_frames), expected, "{a1_frames:?}");
        assert!(a1_frames.iter().all(|s| matches!(s, Seen::Ack { .. })));
        assert!(seen(&d1).is_empty(), "a refused sender gets no ack here");
    }
}
