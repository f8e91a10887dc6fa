//! The chat service both faces (HTTP and WebSocket) call. Knows no actix types.
//!
//! The path of one message: validate -> rate limit -> per-thread lock -> store (one transaction,
//! idempotent on clientMsgId) -> ack to the sending connection and event to every other
//! connection of every member, queued while the lock is held so that every connection sees a
//! thread's messages in id order.

pub mod events;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::db::models::{Message, Thread, User};
use crate::db::queries::{self, InsertOutcome, NewMessageInput, ReadOutcome};
use crate::db::{Db, DbError};
use crate::limits::Limits;
use crate::registry::{ConnHandle, Frame, Registered, Registry, Skip};
use crate::relay::{BoxFuture, Envelope, RedisRelay, RelayHooks, Target};
use crate::storage::StoredFile;
use crate::validate;
use events::{encode, Ack, ServerEvent, TypingUser};

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    Validation(String),
    #[error("not a member of this thread")]
    NotMember,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("rate limited for {0}s")]
    RateLimited(u64),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("storage: {0}")]
    Storage(String),
}

type Result<T> = std::result::Result<T, ChatError>;

/// Which connection asked, so that its reply is queued in order with the events it causes.
#[derive(Debug, Clone)]
pub struct Origin {
    pub user_id: i64,
    pub conn_id: u64,
    pub request_id: Value,
}

pub struct SendInput {
    pub thread_id: i64,
    pub text: Option<String>,
    pub client_msg_id: Option<String>,
    pub files: Vec<StoredFile>,
}

/// Commit queues that order the messages of one thread; unrelated threads rarely share one.
const THREAD_LOCK_STRIPES: usize = 1024;

/// A `send` waiting for its group commit.
struct PendingSend {
    input: NewMessageInput,
    origin: Option<Origin>,
    done: tokio::sync::oneshot::Sender<Result<InsertOutcome>>,
}

/// The sends of a stripe of threads waiting to be stored, and whether a committer is at work.
#[derive(Default)]
struct CommitQueue {
    pending: Vec<PendingSend>,
    committing: bool,
}
/// Largest thread whose members exchange presence when someone joins.
const PRESENCE_INTRODUCTION_MAX_MEMBERS: usize = 256;

struct Inner {
    db: Db,
    registry: Arc<Registry>,
    limits: Arc<Limits>,
    max_thread_members: u64,
    commit_queues: Vec<Mutex<CommitQueue>>,
    /// thread id -> member ids, filled on first use and dropped on every membership change.
    members: Mutex<HashMap<i64, Arc<Vec<i64>>>>,
    /// Other nodes, when several serve the same users.
    relay: Option<Arc<RedisRelay>>,
}

#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

fn thread_not_found() -> ChatError {
    ChatError::NotFound("Thread not found".into())
}

impl Chat {
    pub fn new(
        db: Db,
        registry: Arc<Registry>,
        limits: Arc<Limits>,
        max_thread_members: u64,
        relay: Option<Arc<RedisRelay>>,
    ) -> Chat {
        let chat = Chat {
            inner: Arc::new(Inner {
                db,
                registry,
                limits,
                max_thread_members,
                commit_queues: (0..THREAD_LOCK_STRIPES).map(|_| Mutex::default()).collect(),
                members: Mutex::new(HashMap::new()),
                relay,
            }),
        };
        if let Some(relay) = &chat.inner.relay {
            relay.start(Arc::new(chat.clone()));
        }
        chat
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn db(&self) -> &Db {
        &self.inner.db
    }

    // ------------------------------------------------------------ members and access

    async fn member_ids(&self, thread_id: i64) -> Result<Arc<Vec<i64>>> {
        if let Some(ids) = self.cached_members(thread_id) {
            return Ok(ids);
        }
        let ids = Arc::new(
            self.db()
                .run(move |c| queries::member_ids(c, thread_id))
                .await?,
        );
        self.inner
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(thread_id, ids.clone());
        Ok(ids)
    }

    fn cached_members(&self, thread_id: i64) -> Option<Arc<Vec<i64>>> {
        self.inner
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&thread_id)
            .cloned()
    }

    fn forget_members(&self, thread_id: i64) {
        self.inner
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&thread_id);
        self.relay_publish(Target::ForgetMembers(thread_id), None, Skip::default());
    }

    fn relay_publish(&self, target: Target, frame: Option<&Frame>, skip: Skip) {
        if let Some(relay) = &self.inner.relay {
            relay.publish(&Envelope {
                node: relay.node_id.clone(),
                target,
                skip_user: skip.user,
                skip_conn: skip.conn,
                frame: frame.map(|f| f.to_string()),
            });
        }
    }

    /// Delivers to every connection of `users`, here and on the other nodes.
    fn emit_to_users(&self, users: &[i64], frame: &Frame, skip: Skip) {
        self.inner.registry.deliver(users, frame, skip);
        self.relay_publish(Target::Users(users.to_vec()), Some(frame), skip);
    }

    /// Delivers to every connection of the thread's members, here and on the other nodes.
    fn emit_to_thread(&self, thread_id: i64, members: &[i64], frame: &Frame, skip: Skip) {
        self.inner.registry.deliver(members, frame, skip);
        self.relay_publish(Target::Thread(thread_id), Some(frame), skip);
    }

    /// NotFound for a thread that does not exist, NotMember for one the user is not in.
    async fn require_member(&self, user_id: i64, thread_id: i64) -> Result<i64> {
        let found = self
            .db()
            .run(move |c| {
                Ok::<_, DbError>(match queries::membership(c, thread_id, user_id)? {
                    Some(last_read) => Ok(last_read),
                    None if queries::find_thread(c, thread_id)?.is_some() => {
                        Err(ChatError::NotMember)
                    }
                    None => Err(thread_not_found()),
                })
            })
            .await?;
        found
    }

    async fn not_member_or_missing(&self, thread_id: i64) -> ChatError {
        match self
            .db()
            .run(move |c| queries::find_thread(c, thread_id))
            .await
        {
            Ok(Some(_)) => ChatError::NotMember,
            Ok(None) => thread_not_found(),
            Err(e) => e.into(),
        }
    }

    fn reply(&self, origin: &Origin, frame: &Frame) {
        self.inner
            .registry
            .deliver_to_conn(origin.user_id, origin.conn_id, frame);
    }

    // ------------------------------------------------------------ users

    pub async fn user(&self, id: i64) -> Result<User> {
        self.db()
            .run(move |c| queries::find_user(c, id))
            .await?
            .ok_or_else(|| ChatError::NotFound("User not found".into()))
    }

    pub async fn search_users(&self, query: String, limit: i64) -> Result<Vec<User>> {
        Ok(self
            .db()
            .run(move |c| queries::search_users(c, &query, limit))
            .await?)
    }

    // ------------------------------------------------------------ threads

    async fn view(&self, thread_id: i64, viewer: i64) -> Result<Thread> {
        self.db()
            .run(move |c| {
                let Some(row) = queries::find_thread(c, thread_id)? else {
                    return Ok(Err(thread_not_found()));
                };
                let Some(last_read) = queries::membership(c, thread_id, viewer)? else {
                    return Ok(Err(ChatError::NotMember));
                };
                Ok::<_, DbError>(Ok(queries::thread_view(c, row, viewer, last_read)?))
            })
            .await?
    }

    pub async fn list_threads(&self, user_id: i64) -> Result<Vec<Thread>> {
        Ok(self
            .db()
            .run(move |c| {
                queries::threads_of_user(c, user_id)?
                    .into_iter()
                    .map(|(row, last_read)| queries::thread_view(c, row, user_id, last_read))
                    .collect::<std::result::Result<Vec<_>, DbError>>()
            })
            .await?)
    }

    pub async fn thread(&self, user_id: i64, thread_id: i64) -> Result<Thread> {
        self.view(thread_id, user_id).await
    }

    /// Tells `user_ids` (on their every connection, on every node) about a thread they were
    /// just added to. Newcomers all see it alike (nothing unread), so one frame serves them all.
    /// Then newcomers and the members already there learn who of each other is online.
    async fn announce_thread(&self, thread_id: i64, user_ids: &[i64]) {
        let Some(&first) = user_ids.first() else {
            return;
        };
        let thread = match self.view(thread_id, first).await {
            Ok(thread) => thread,
            Err(e) => return tracing::warn!(error = %e, thread_id, "could not announce thread"),
        };
        let frame = encode(&ServerEvent::Thread { thread: &thread });
        self.emit_to_users(user_ids, &frame, Skip::default());
        let members: Vec<i64> = thread.members.iter().map(|u| u.id).collect();
        // New contacts: presence is exchanged here, not only on the next (re)connect. Bounded,
        // since it costs online-members x newcomers frames.
        if members.len() <= PRESENCE_INTRODUCTION_MAX_MEMBERS {
            for online in self.online_among(&members).await {
                let frame = encode(&ServerEvent::Presence {
                    user_id: online,
                    online: true,
                });
                if user_ids.contains(&online) {
                    self.emit_to_users(
                        &members,
                        &frame,
                        Skip {
                            user: Some(online),
                            conn: None,
                        },
                    );
                } else {
                    self.emit_to_users(user_ids, &frame, Skip::default());
                }
            }
        }
    }

    /// Tells the members of a group (except `skip_user`) its new member list.
    async fn announce_members(&self, thread_id: i64, skip_user: Option<i64>) {
        let found = self
            .db()
            .run(move |c| {
                let owner_id = queries::find_thread(c, thread_id)?.and_then(|t| t.owner_id);
                Ok::<_, DbError>((owner_id, queries::member_users(c, thread_id)?))
            })
            .await;
        match found {
            Ok((owner_id, members)) => {
                let ids: Vec<i64> = members.iter().map(|u| u.id).collect();
                let frame = encode(&ServerEvent::Members {
                    thread_id,
                    owner_id,
                    members: &members,
                });
                self.emit_to_thread(
                    thread_id,
                    &ids,
                    &frame,
                    Skip {
                        user: skip_user,
                        conn: None,
                    },
                );
            }
            Err(e) => tracing::warn!(error = %e, thread_id, "could not announce members"),
        }
    }
    /// The direct thread between the caller and `other_id`, created if missing.
    pub async fn open_direct(&self, user_id: i64, other_id: i64) -> Result<(Thread, bool)> {
        self.user(other_id).await?;
        let (row, created) = self
            .db()
            .run(move |c| queries::get_or_create_direct(c, user_id, other_id))
            .await?;
        if created {
            self.forget_members(row.id);
            // the other user, and the caller's other devices
            self.announce_thread(row.id, &[other_id, user_id]).await;
        }
        Ok((self.view(row.id, user_id).await?, created))
    }

    pub async fn create_group(
        &self,
        owner_id: i64,
        name: &str,
        member_ids: Vec<i64>,
    ) -> Result<Thread> {
        let name = validate::thread_name(name).map_err(ChatError::Validation)?;
        let mut members = member_ids;
        members.push(owner_id);
        members.sort_unstable();
        members.dedup();
        if members.len() as u64 > self.inner.max_thread_members {
            return Err(ChatError::Validation(format!(
                "A thread has at most {} members",
                self.inner.max_thread_members
            )));
        }
        let to_check = members.clone();
        let row = self
            .db()
            .run(move |c| {
                if queries::count_existing_users(c, &to_check)? != to_check.len() as i64 {
                    return Ok(Err(ChatError::NotFound("User not found".into())));
                }
                Ok::<_, DbError>(Ok(queries::create_group(c, owner_id, &name, &to_check)?))
            })
            .await??;
        self.announce_thread(row.id, &members).await;
        self.view(row.id, owner_id).await
    }

    pub async fn add_member(&self, actor: i64, thread_id: i64, user_id: i64) -> Result<Thread> {
        let thread = self.view(thread_id, actor).await?;
        if !thread.is_group {
            return Err(ChatError::Validation(
                "Members cannot be added to a direct thread".into(),
            ));
        }
        if thread.owner_id != Some(actor) {
            return Err(ChatError::Forbidden(
                "Only the owner can add members".into(),
            ));
        }
        self.user(user_id).await?;
        let max = self.inner.max_thread_members;
        let added = self
            .db()
            .run(move |c| {
                if queries::membership(c, thread_id, user_id)?.is_some() {
                    return Ok(Ok(false));
                }
                if queries::count_members(c, thread_id)? as u64 >= max {
                    return Ok(Err(ChatError::Validation(format!(
                        "A thread has at most {max} members"
                    ))));
                }
                Ok::<_, DbError>(Ok(queries::add_member(c, thread_id, user_id)?))
            })
            .await??;
        if added {
            self.forget_members(thread_id);
            self.announce_thread(thread_id, &[user_id]).await;
            self.announce_members(thread_id, Some(user_id)).await;
        }
        self.view(thread_id, actor).await
    }

    /// The owner removes anyone; anyone removes themself. An owner who leaves hands the group
    /// to the longest-standing member.
    pub async fn remove_member(&self, actor: i64, thread_id: i64, user_id: i64) -> Result<()> {
        let thread = self.view(thread_id, actor).await?;
        if !thread.is_group {
            return Err(ChatError::Validation(
                "Members cannot be removed from a direct thread".into(),
            ));
        }
        if actor != user_id && thread.owner_id != Some(actor) {
            return Err(ChatError::Forbidden(
                "Only the owner can remove other members".into(),
            ));
        }
        let was_owner = thread.owner_id == Some(user_id);
        let removed = self
            .db()
            .run(move |c| {
                let removed = queries::remove_member(c, thread_id, user_id)?;
                if removed && was_owner {
                    queries::transfer_ownership(c, thread_id)?;
                }
                Ok::<_, DbError>(removed)
            })
            .await?;
        if !removed {
            return Err(ChatError::NotFound(
                "That user is not a member of this thread".into(),
            ));
        }
        self.forget_members(thread_id);
        let frame = encode(&ServerEvent::Removed { thread_id });
        self.emit_to_users(&[user_id], &frame, Skip::default());
        self.announce_members(thread_id, None).await;
        Ok(())
    }

    // ------------------------------------------------------------ messages

    pub async fn history(
        &self,
        user_id: i64,
        thread_id: i64,
        before: Option<i64>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<Message>, bool)> {
        self.check_read(user_id).await?;
        self.require_member(user_id, thread_id).await?;
        Ok(self
            .db()
            .run(move |c| queries::history(c, thread_id, before, after, limit))
            .await?)
    }

    pub async fn sync(&self, user_id: i64, after: i64, limit: i64) -> Result<(Vec<Message>, bool)> {
        self.check_read(user_id).await?;
        Ok(self
            .db()
            .run(move |c| queries::sync(c, user_id, after, limit))
            .await?)
    }

    /// The large-read bucket, shared by history, sync and message pages (HTTP and WebSocket).
    async fn check_read(&self, user_id: i64) -> Result<()> {
        self.inner
            .limits
            .check_read(user_id)
            .await
            .map_err(ChatError::RateLimited)
    }

    /// Stores a message and delivers it. Returns the message and whether it is new (`false`:
    /// a repeated clientMsgId, answered with the original and delivered to no one again).
    pub async fn send(
        &self,
        sender_id: i64,
        input: SendInput,
        origin: Option<Origin>,
    ) -> Result<(Message, bool)> {
        if let Some(text) = &input.text {
            validate::message_text(text).map_err(ChatError::Validation)?;
        }
        if let Some(id) = &input.client_msg_id {
            validate::client_msg_id(id).map_err(ChatError::Validation)?;
        }
        if input.text.is_none() && input.files.is_empty() {
            return Err(ChatError::Validation(
                "A message needs text or at least one file".into(),
            ));
        }
        self.inner
            .limits
            .check_send(sender_id)
            .await
            .map_err(ChatError::RateLimited)?;

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
        self.enqueue_send(PendingSend {
            input: db_input,
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
        if created {
            // the files now belong to the stored message
            input.files.into_iter().for_each(|f| {
                f.keep();
            });
        }
        Ok((message, created))
    }

    /// Group commit: sends to threads of one stripe queue up while a committer task stores
    /// them, and the next batch is everything that queued meanwhile, stored in one transaction.
    /// One committer per stripe at a time is what orders a thread's messages: ids, acks and
    /// fan-out all follow the queue. The committer is a task of its own, so a sender that goes
    /// away mid-commit (a closed HTTP request) cannot strand the others.
    fn enqueue_send(&self, send: PendingSend) {
        let stripe = (send.input.thread_id.unsigned_abs() as usize) % THREAD_LOCK_STRIPES;
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

    /// Stores a batch, then acks and fans out each message in order before answering its sender.
    async fn commit_batch(&self, batch: Vec<PendingSend>) {
        let mut inputs = Vec::with_capacity(batch.len());
        let mut waiting = Vec::with_capacity(batch.len());
        for send in batch {
            inputs.push(send.input);
            waiting.push((send.origin, send.done));
        }
        metrics::histogram!("message_commit_batch_size").record(inputs.len() as f64);
        let outcomes = match self
            .db()
            .run(move |c| queries::insert_messages(c, &inputs))
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
            let _ = done.send(outcome.map_err(ChatError::from));
        }
    }

    /// The ack to the sender's connection, then (for a new message) the message to every member.
    async fn announce_stored(&self, message: &Message, created: bool, origin: Option<&Origin>) {
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

    pub async fn typing(&self, user: &User, thread_id: i64, is_typing: bool) -> Result<()> {
        self.inner
            .limits
            .check_send(user.id)
            .await
            .map_err(ChatError::RateLimited)?;
        let members = self.member_ids(thread_id).await?;
        if !members.contains(&user.id) {
            return Err(self.not_member_or_missing(thread_id).await);
        }
        let frame = encode(&ServerEvent::Typing {
            thread_id,
            user: TypingUser {
                id: user.id,
                nick_name: &user.nick_name,
            },
            is_typing,
        });
        self.emit_to_thread(
            thread_id,
            &members,
            &frame,
            Skip {
                user: Some(user.id),
                conn: None,
            },
        );
        Ok(())
    }

    pub async fn mark_read(
        &self,
        user_id: i64,
        thread_id: i64,
        message_id: i64,
        origin_conn: Option<u64>,
    ) -> Result<()> {
        let outcome = self
            .db()
            .run(move |c| queries::mark_read(c, thread_id, user_id, message_id))
            .await?;
        match outcome {
            ReadOutcome::Marked => {}
            ReadOutcome::NotMember => return Err(self.not_member_or_missing(thread_id).await),
            ReadOutcome::NoSuchMessage => {
                return Err(ChatError::NotFound(
                    "Message not found in this thread".into(),
                ))
            }
        }
        let members = self.member_ids(thread_id).await?;
        let frame = encode(&ServerEvent::Read {
            thread_id,
            user_id,
            message_id,
        });
        self.emit_to_thread(
            thread_id,
            &members,
            &frame,
            Skip {
                user: None,
                conn: origin_conn,
            },
        );
        Ok(())
    }

    // ------------------------------------------------------------ presence

    /// Which of `users` have a connection on any node.
    async fn online_among(&self, users: &[i64]) -> Vec<i64> {
        let elsewhere = match &self.inner.relay {
            Some(relay) => relay.online_elsewhere(users).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "presence: relay unavailable, counting this node only");
                Default::default()
            }),
            None => Default::default(),
        };
        users
            .iter()
            .copied()
            .filter(|u| self.inner.registry.is_online(*u) || elsewhere.contains(u))
            .collect()
    }

    async fn announce_presence(&self, user_id: i64, online: bool) {
        match self
            .db()
            .run(move |c| queries::contact_ids(c, user_id))
            .await
        {
            Ok(contacts) => {
                let frame = encode(&ServerEvent::Presence { user_id, online });
                self.emit_to_users(&contacts, &frame, Skip::default());
            }
            Err(e) => tracing::warn!(error = %e, user_id, "could not load contacts for presence"),
        }
    }

    /// Registers a live connection. On the user's first one (on any node), tells their
    /// contacts they are online. Returns the contacts online now, for the new connection.
    pub async fn connected(&self, user_id: i64, handle: ConnHandle) -> Vec<i64> {
        let first_here = self.inner.registry.register(user_id, handle) == Registered::First;
        if first_here {
            let elsewhere = match &self.inner.relay {
                Some(relay) => {
                    if let Err(e) = relay.mark_online(user_id).await {
                        tracing::warn!(error = %e, "presence: relay unavailable");
                    }
                    relay
                        .online_elsewhere(&[user_id])
                        .await
                        .map(|s| s.contains(&user_id))
                        .unwrap_or(false)
                }
                None => false,
            };
            if !elsewhere {
                self.announce_presence(user_id, true).await;
            }
        }
        let contacts = match self
            .db()
            .run(move |c| queries::contact_ids(c, user_id))
            .await
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, user_id, "could not load contacts for presence");
                return Vec::new();
            }
        };
        self.online_among(&contacts).await
    }

    pub async fn disconnected(&self, user_id: i64, conn_id: u64) {
        if !self.inner.registry.unregister(user_id, conn_id) {
            return;
        }
        if let Some(relay) = &self.inner.relay {
            if let Err(e) = relay.mark_offline(user_id).await {
                tracing::warn!(error = %e, "presence: relay unavailable");
            }
        }
        if self.online_among(&[user_id]).await.is_empty() {
            self.announce_presence(user_id, false).await;
        }
    }
}

/// Events from the other nodes, delivered to this node's connections.
impl RelayHooks for Chat {
    fn deliver(&self, envelope: Envelope) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let skip = Skip {
                user: envelope.skip_user,
                conn: envelope.skip_conn,
            };
            let frame = envelope.frame.map(Frame::from);
            match (envelope.target, frame) {
                (Target::ForgetMembers(thread_id), _) => {
                    self.inner
                        .members
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&thread_id);
                }
                (Target::Users(users), Some(frame)) => {
                    self.inner.registry.deliver(&users, &frame, skip);
                }
                (Target::Thread(thread_id), Some(frame)) => {
                    match self.member_ids(thread_id).await {
                        Ok(members) => {
                            self.inner.registry.deliver(&members, &frame, skip);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, thread_id, "relay: could not load members")
                        }
                    }
                }
                (_, None) => {}
            }
        })
    }

    fn local_users(&self) -> Vec<i64> {
        self.inner.registry.online_users()
    }

    fn users_gone(&self, users: Vec<i64>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for user_id in users {
                if self.online_among(&[user_id]).await.is_empty() {
                    self.announce_presence(user_id, false).await;
                }
            }
        })
    }
}

impl Chat {
    /// How events reach other nodes, for /healthz.
    pub fn relay_status(&self) -> Value {
        match &self.inner.relay {
            Some(relay) => relay.status(),
            None => serde_json::json!({ "kind": "none", "ok": true }),
        }
    }
}
