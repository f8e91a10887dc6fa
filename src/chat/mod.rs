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
use crate::db::queries::{self, InsertOutcome, MemberChange, NewMessageInput, ReadOutcome};
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
    /// The files of `input.attachments`: the committer keeps or deletes them by the outcome.
    files: Vec<StoredFile>,
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
/// Most threads, and most member ids in all, the member cache holds.
const MEMBER_CACHE_THREADS: usize = 4096;
const MEMBER_CACHE_IDS: usize = 1 << 20;
/// Most distinct `thread` frames (one per read state) for one change of a thread's members;
/// members past them share the most common state's frame (see docs/ARCHITECTURE.md).
const THREAD_EVENT_VARIANTS: usize = 32;

/// Thread id -> member ids. Correct by construction: a list is cached only if no invalidation
/// happened while it was read from the database (`generation`), so a read racing a change
/// cannot put the old list back; bounded in threads and in ids.
#[derive(Default)]
struct MemberCache {
    entries: HashMap<i64, Arc<Vec<i64>>>,
    ids: usize,
    generation: u64,
}

impl MemberCache {
    fn insert(&mut self, thread_id: i64, ids: Arc<Vec<i64>>, read_at: u64) {
        if read_at != self.generation || ids.is_empty() || ids.len() > MEMBER_CACHE_IDS / 4 {
            return;
        }
        self.remove(thread_id);
        // evict arbitrary entries: any of them is as good as a database read away
        while self.entries.len() >= MEMBER_CACHE_THREADS || self.ids + ids.len() > MEMBER_CACHE_IDS
        {
            let Some(&victim) = self.entries.keys().next() else {
                break;
            };
            self.remove(victim);
        }
        self.ids += ids.len();
        self.entries.insert(thread_id, ids);
    }

    fn remove(&mut self, thread_id: i64) {
        if let Some(old) = self.entries.remove(&thread_id) {
            self.ids -= old.len();
        }
    }

    fn forget(&mut self, thread_id: i64) {
        self.generation += 1;
        self.remove(thread_id);
    }

    fn clear(&mut self) {
        self.generation += 1;
        self.entries.clear();
        self.ids = 0;
    }
}

struct Inner {
    db: Db,
    registry: Arc<Registry>,
    limits: Arc<Limits>,
    max_thread_members: u64,
    commit_queues: Vec<Mutex<CommitQueue>>,
    /// thread id -> member ids, filled on first use and dropped on every membership change.
    members: Mutex<MemberCache>,
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

/// Only the owner of a group may change it.
fn check_group_owner(thread: &Thread, actor: i64, not_owner: &str) -> Result<()> {
    if !thread.is_group {
        return Err(refusal(MemberChange::Direct, not_owner));
    }
    if thread.owner_id != Some(actor) {
        return Err(refusal(MemberChange::NotOwner, not_owner));
    }
    Ok(())
}

/// The error for a change the database layer refused.
fn refusal(change: MemberChange, not_owner: &str) -> ChatError {
    match change {
        MemberChange::NoThread => thread_not_found(),
        MemberChange::NotMember => ChatError::NotMember,
        MemberChange::Direct => {
            ChatError::Validation("The members and name of a direct thread are fixed".into())
        }
        MemberChange::NotOwner => ChatError::Forbidden(not_owner.into()),
        MemberChange::Full => ChatError::Validation("This thread is full".into()),
        MemberChange::NoSuchMember => {
            ChatError::NotFound("That user is not a member of this thread".into())
        }
        MemberChange::Done | MemberChange::Unchanged => {
            ChatError::Validation("nothing to refuse".into())
        }
    }
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
                members: Mutex::new(MemberCache::default()),
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
        // Without a live subscription, other nodes' invalidations do not reach us: no cache.
        let usable = self.inner.relay.as_ref().map_or(true, |r| r.is_healthy());
        let read_at = {
            let cache = self.member_cache();
            if usable {
                if let Some(ids) = cache.entries.get(&thread_id) {
                    return Ok(ids.clone());
                }
            }
            cache.generation
        };
        let ids = Arc::new(
            self.db()
                .run(move |c| queries::member_ids(c, thread_id))
                .await?,
        );
        if usable {
            self.member_cache().insert(thread_id, ids.clone(), read_at);
        }
        Ok(ids)
    }

    fn member_cache(&self) -> std::sync::MutexGuard<'_, MemberCache> {
        self.inner.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a committed membership change: here, and on every other node.
    fn forget_members(&self, thread_id: i64) {
        self.member_cache().forget(thread_id);
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

    /// Tells the members of a thread (but `skip_user`) its new state after a change of its
    /// members or name: a `thread` frame, each member's own (unread count, read mark), one
    /// frame per distinct read state.
    async fn announce_change(&self, thread_id: i64, skip_user: Option<i64>) {
        let found = self
            .db()
            .run(move |c| {
                let Some(row) = queries::find_thread(c, thread_id)? else {
                    return Ok(None);
                };
                let states = queries::member_read_states(c, thread_id)?;
                let Some(&(viewer, mark, _)) = states.first() else {
                    return Ok(None);
                };
                Ok::<_, DbError>(Some((queries::thread_view(c, row, viewer, mark)?, states)))
            })
            .await;
        let (mut thread, states) = match found {
            Ok(Some(found)) => found,
            Ok(None) => return,
            Err(e) => return tracing::warn!(error = %e, thread_id, "could not announce thread"),
        };
        let mut groups: HashMap<(i64, i64), Vec<i64>> = HashMap::new();
        for (user_id, mark, unread) in states {
            if Some(user_id) != skip_user {
                groups.entry((mark, unread)).or_default().push(user_id);
            }
        }
        let mut groups: Vec<((i64, i64), Vec<i64>)> = groups.into_iter().collect();
        groups.sort_by_key(|(_, users)| std::cmp::Reverse(users.len()));
        if groups.len() > THREAD_EVENT_VARIANTS {
            // bounded work and memory for a huge group: the rest see the most common state
            let rest: Vec<i64> = groups
                .drain(THREAD_EVENT_VARIANTS..)
                .flat_map(|(_, users)| users)
                .collect();
            groups[0].1.extend(rest);
        }
        for ((mark, unread), users) in groups {
            thread.last_read_message_id = mark;
            thread.unread_count = unread;
            let frame = encode(&ServerEvent::Thread { thread: &thread });
            self.emit_to_users(&users, &frame, Skip::default());
        }
    }

    /// The direct thread between the caller and `other_id`, created if missing.
    pub async fn open_direct(&self, user_id: i64, other_id: i64) -> Result<(Thread, bool)> {
        self.user(other_id).await?;
        let existing = self
            .db()
            .run(move |c| queries::find_direct(c, user_id, other_id))
            .await?;
        if let Some(row) = existing {
            // finding a thread costs no budget
            return Ok((self.view(row.id, user_id).await?, false));
        }
        self.check_thread_budget(user_id).await?;
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
        self.check_thread_budget(owner_id).await?;
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
        // nothing can have cached the members of a thread that did not exist; still, no cache
        // must outlive a change
        self.forget_members(row.id);
        self.announce_thread(row.id, &members).await;
        self.view(row.id, owner_id).await
    }

    async fn check_thread_budget(&self, user_id: i64) -> Result<()> {
        self.inner
            .limits
            .check_thread_change(user_id)
            .await
            .map_err(ChatError::RateLimited)
    }

    pub async fn add_member(&self, actor: i64, thread_id: i64, user_id: i64) -> Result<Thread> {
        // the cheap refusals first, so that they cost no budget
        let thread = self.view(thread_id, actor).await?;
        check_group_owner(&thread, actor, "Only the owner can add members")?;
        self.user(user_id).await?;
        if thread.members.iter().any(|m| m.id == user_id) {
            return Ok(thread);
        }
        self.check_thread_budget(actor).await?;
        let max = self.inner.max_thread_members;
        let change = self
            .db()
            .run(move |c| queries::add_member(c, actor, thread_id, user_id, max))
            .await?;
        match change {
            MemberChange::Done => {
                self.forget_members(thread_id);
                self.announce_thread(thread_id, &[user_id]).await;
                self.announce_change(thread_id, Some(user_id)).await;
            }
            MemberChange::Unchanged => {}
            MemberChange::Full => {
                return Err(ChatError::Validation(format!(
                    "A thread has at most {max} members"
                )))
            }
            refused => return Err(refusal(refused, "Only the owner can add members")),
        }
        self.view(thread_id, actor).await
    }

    /// The owner removes anyone; anyone removes themself. An owner who leaves hands the group
    /// to the longest-standing member.
    pub async fn remove_member(&self, actor: i64, thread_id: i64, user_id: i64) -> Result<()> {
        let change = self
            .db()
            .run(move |c| queries::remove_member(c, actor, thread_id, user_id))
            .await?;
        if change != MemberChange::Done {
            return Err(refusal(change, "Only the owner can remove other members"));
        }
        self.forget_members(thread_id);
        let frame = encode(&ServerEvent::Removed { thread_id });
        self.emit_to_users(&[user_id], &frame, Skip::default());
        self.announce_change(thread_id, Some(user_id)).await;
        Ok(())
    }

    /// The owner renames a group; every member hears of it.
    pub async fn rename_group(&self, actor: i64, thread_id: i64, name: &str) -> Result<Thread> {
        let name = validate::thread_name(name).map_err(ChatError::Validation)?;
        let change = self
            .db()
            .run(move |c| queries::rename_group(c, actor, thread_id, &name))
            .await?;
        match change {
            MemberChange::Done => self.announce_change(thread_id, None).await,
            MemberChange::Unchanged => {}
            refused => return Err(refusal(refused, "Only the owner can rename the group")),
        }
        self.view(thread_id, actor).await
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

/// Keeps the files of the messages the batch stored and deletes the others. When an outcome is
/// unknown (the commit or a later read failed), the database says which rows exist; when it
/// cannot say, the files stay, for the start-up sweep to judge.
fn settle_files(
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
                (Target::ForgetMembers(thread_id), _) => self.member_cache().forget(thread_id),
                (Target::ForgetAll, _) => self.member_cache().clear(),
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

    fn resubscribed(&self) {
        self.member_cache().clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_cached() {
        let mut cache = MemberCache::default();
        let read_at = cache.generation;
        // the members are being read from the database when a removal commits
        cache.forget(7);
        cache.insert(7, Arc::new(vec![1, 2]), read_at);
        assert!(!cache.entries.contains_key(&7), "the old list came back");
        cache.insert(7, Arc::new(vec![1]), cache.generation);
        assert_eq!(cache.entries.get(&7).map(|ids| ids.len()), Some(1));
        let read_at = cache.generation;
        cache.clear();
        cache.insert(8, Arc::new(vec![1]), read_at);
        assert!(cache.entries.is_empty() && cache.ids == 0);
    }

    #[test]
    fn threads_without_members_are_never_cached() {
        let mut cache = MemberCache::default();
        cache.insert(9, Arc::new(Vec::new()), cache.generation);
        assert!(cache.entries.is_empty());
    }

    #[test]
    fn the_cache_is_bounded_in_threads_and_ids() {
        let mut cache = MemberCache::default();
        for thread_id in 0..(MEMBER_CACHE_THREADS as i64 * 2) {
            cache.insert(thread_id, Arc::new(vec![1, 2, 3]), cache.generation);
        }
        assert_eq!(cache.entries.len(), MEMBER_CACHE_THREADS);
        assert_eq!(cache.ids, MEMBER_CACHE_THREADS * 3);
        let big = Arc::new((0..MEMBER_CACHE_IDS as i64 / 4).collect::<Vec<_>>());
        for thread_id in 0..8 {
            cache.insert(-1 - thread_id, big.clone(), cache.generation);
        }
        assert!(cache.ids <= MEMBER_CACHE_IDS, "{} ids", cache.ids);
        assert_eq!(
            cache.ids,
            cache.entries.values().map(|ids| ids.len()).sum::<usize>()
        );
    }
}
