//! The chat service both faces (HTTP and WebSocket) call. Knows no actix types.
//!
//! One file per concern, each an `impl Chat` block: `threads` (threads, members, names),
//! `commit` (the group commit every change to messages goes through), `messages` (send,
//! history, `sync {after}`), `lifecycle` (edit, delete, react, one message, `around`,
//! `sync {since}`), `search`, `activity` (typing, read marks),
//! `presence`, `members` (the member cache every fan-out reads), `relay_hooks` (events
//! from other nodes); [`events`] are the frames they send. This file holds the service's state
//! and the fan-out helpers they share.
//!
//! The path of one message: validate -> rate limit -> the thread's commit queue -> stored in
//! one transaction with the others queued meanwhile (idempotent on clientMsgId) -> ack to the
//! sending connection and event to every other connection of every member, in batch order, so
//! that every connection sees a thread's messages in id order.

mod activity;
mod commit;
pub mod events;
mod lifecycle;
mod members;
mod messages;
mod presence;
mod relay_hooks;
mod search;
mod threads;

pub use lifecycle::MessageRef;
pub use messages::SendInput;

use crate::domain::ids::{ConnId, ThreadId, UserId};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::db::{queries, Db};
use crate::limits::Limits;
use crate::registry::{Frame, Registry, Skip};
use crate::relay::{Envelope, RedisRelay, Target};
use crate::services::{Error, Result};
use crate::storage::Storage;

use commit::{CommitQueue, THREAD_LOCK_STRIPES};
use members::MemberCache;

/// Which connection asked, so that its reply is queued in order with the events it causes.
#[derive(Debug, Clone)]
pub struct Origin {
    pub user_id: UserId,
    pub conn_id: ConnId,
    pub request_id: Value,
}

struct Inner {
    db: Db,
    /// Where attachments go (the same upload dir as avatars).
    storage: Storage,
    registry: Arc<Registry>,
    limits: Arc<Limits>,
    max_thread_members: u64,
    /// `None`: no cap (`RATE_LIMITS=off`).
    max_connections_per_user: Option<usize>,
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

fn thread_not_found() -> Error {
    Error::NotFound("Thread not found".into())
}

impl Chat {
    pub fn new(
        db: Db,
        storage: Storage,
        registry: Arc<Registry>,
        limits: Arc<Limits>,
        max_thread_members: u64,
        max_connections_per_user: Option<usize>,
        relay: Option<Arc<RedisRelay>>,
    ) -> Chat {
        let chat = Chat {
            inner: Arc::new(Inner {
                db,
                storage,
                registry,
                limits,
                max_thread_members,
                max_connections_per_user,
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
    fn emit_to_users(&self, users: &[UserId], frame: &Frame, skip: Skip) {
        self.inner.registry.deliver(users, frame, skip);
        self.relay_publish(Target::Users(users.to_vec()), Some(frame), skip);
    }

    /// Delivers to every connection of the thread's members, here and on the other nodes.
    fn emit_to_thread(&self, thread_id: ThreadId, members: &[UserId], frame: &Frame, skip: Skip) {
        self.inner.registry.deliver(members, frame, skip);
        self.relay_publish(Target::Thread(thread_id), Some(frame), skip);
    }

    fn reply(&self, origin: &Origin, frame: &Frame) {
        self.inner
            .registry
            .deliver_to_conn(origin.user_id, origin.conn_id, frame);
    }

    /// How events reach other nodes, for /healthz.
    pub fn relay_status(&self) -> Value {
        match &self.inner.relay {
            Some(relay) => relay.status(),
            None => serde_json::json!({ "kind": "none", "ok": true }),
        }
    }

    /// Whether the database answers, for /healthz.
    pub async fn database_ok(&self) -> bool {
        self.db().run(queries::ping).await.is_ok()
    }

    pub fn database_kind(&self) -> &'static str {
        self.db().kind()
    }

    pub fn database_connections_in_use(&self) -> u32 {
        self.db().connections_in_use()
    }
}
