//! How events reach the other nodes: nothing for a single node, Redis pub/sub for several.
//!
//! Every event a node delivers to its own connections is also published once on one channel;
//! every other node delivers it to its own connections through its registry. Presence across
//! nodes lives in Redis: each node keeps the set of users it has online and a heartbeat key with
//! a TTL, so the users of a node that died turn offline once its heartbeat expires.
//!
//! Redis going away never stops a node: it keeps serving its own connections, says so in
//! /healthz and its log, and reconnects with backoff. Messages are in the database first, so a
//! client that missed events while the relay was down gets them with `sync`.

use crate::domain::ids::{ConnId, SessionId, ThreadId, UserId};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

mod presence;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// A node whose heartbeat is older than this is dead; its users go offline.
pub const NODE_TTL_SECS: u64 = 15;
const PUBLISH_QUEUE: usize = 65_536;

/// Who receives a relayed event on each node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// Every member of a thread (each node resolves the members itself).
    Thread(ThreadId),
    Users(Vec<UserId>),
    /// Not a frame: a thread's membership changed, drop cached member lists.
    ForgetMembers(ThreadId),
    /// Not a frame: some `ForgetMembers` of this node never went out; drop every cached list.
    ForgetAll,
    /// Not a frame: these sessions of this user ended; close their connections (4003).
    EndSessions(UserId, Vec<SessionId>),
}

impl Target {
    /// Invalidations must never be lost silently: a lost one is made up for by `ForgetAll`.
    fn invalidates(&self) -> bool {
        matches!(self, Target::ForgetMembers(_) | Target::ForgetAll)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub node: String,
    pub target: Target,
    #[serde(default)]
    pub skip_user: Option<UserId>,
    #[serde(default)]
    pub skip_conn: Option<ConnId>,
    #[serde(default)]
    pub frame: Option<String>,
}

/// What the relay calls back into: the chat service.
pub trait RelayHooks: Send + Sync + 'static {
    /// An event another node published.
    fn deliver(&self, envelope: Envelope) -> BoxFuture<'_, ()>;
    /// Users with a connection on this node.
    fn local_users(&self) -> Vec<UserId>;
    /// Users whose node died: offline unless connected somewhere else.
    fn users_gone(&self, users: Vec<UserId>) -> BoxFuture<'_, ()>;
    /// The subscription is (re)established: whatever was published while it was down (member
    /// list invalidations included) is lost, so anything cached from other nodes' events goes.
    fn resubscribed(&self);
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

pub struct RedisRelay {
    pub node_id: String,
    prefix: String,
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    publish_tx: mpsc::Sender<Outgoing>,
    publish_rx: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    subscribed: AtomicBool,
    dropped: AtomicU64,
    /// An invalidation of this node was dropped: a `ForgetAll` is owed to the other nodes.
    invalidation_lost: AtomicBool,
}

/// A serialized envelope waiting for the publisher.
struct Outgoing {
    payload: String,
    invalidates: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer in time")]
    Timeout,
}

type Result<T> = std::result::Result<T, RelayError>;

async fn timed<T>(fut: impl std::future::Future<Output = redis::RedisResult<T>>) -> Result<T> {
    tokio::time::timeout(COMMAND_TIMEOUT, fut)
        .await
        .map_err(|_| RelayError::Timeout)?
        .map_err(RelayError::from)
}

impl RedisRelay {
    pub fn new(url: &str, prefix: &str) -> Result<Arc<RedisRelay>> {
        let client = redis::Client::open(url)?;
        let (publish_tx, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
        Ok(Arc::new(RedisRelay {
            node_id: format!("{:016x}", rand::random::<u64>()),
            prefix: prefix.to_owned(),
            client,
            conn: Mutex::new(None),
            publish_tx,
            publish_rx: Mutex::new(Some(publish_rx)),
            subscribed: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            invalidation_lost: AtomicBool::new(false),
        }))
    }

    fn channel(&self) -> String {
        format!("{}:events", self.prefix)
    }
    fn nodes_key(&self) -> String {
        format!("{}:nodes", self.prefix)
    }
    fn alive_key(&self, node: &str) -> String {
        format!("{}:alive:{node}", self.prefix)
    }
    fn online_key(&self, node: &str) -> String {
        format!("{}:online:{node}", self.prefix)
    }

    /// A shared connection, (re)connected on demand.
    async fn conn(&self) -> Result<MultiplexedConnection> {
        if let Some(conn) = self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(conn);
        }
        let conn = timed(self.client.get_multiplexed_async_connection()).await?;
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
        Ok(conn)
    }

    fn forget_conn(&self) {
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Runs one command; a failure drops the connection so the next call reconnects.
    async fn run<T, F, Fut>(&self, command: F) -> Result<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.conn().await?;
        let result = timed(command(conn)).await;
        if result.is_err() {
            self.forget_conn();
        }
        result
    }

    pub fn is_healthy(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "redis",
            "ok": self.is_healthy(),
            "node": self.node_id,
            "droppedEvents": self.dropped.load(Ordering::Relaxed),
        })
    }

    /// Queues an event for the other nodes; never waits. A full queue (Redis down for long)
    /// drops the event: its message is in the database and reaches clients through `sync`.
    pub fn publish(&self, envelope: &Envelope) {
        let Ok(payload) = serde_json::to_string(envelope) else {
            return;
        };
        let invalidates = envelope.target.invalidates();
        if self
            .publish_tx
            .try_send(Outgoing {
                payload,
                invalidates,
            })
            .is_err()
        {
            self.count_dropped(invalidates);
        }
    }

    fn count_dropped(&self, invalidates: bool) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("relay_dropped_events_total").increment(1);
        if invalidates {
            self.invalidation_lost.store(true, Ordering::Relaxed);
        }
    }

    /// Publishes the `ForgetAll` owed for dropped invalidations, if any.
    async fn settle_lost_invalidations(&self) {
        if !self.invalidation_lost.swap(false, Ordering::Relaxed) {
            return;
        }
        let envelope = Envelope {
            node: self.node_id.clone(),
            target: Target::ForgetAll,
            skip_user: None,
            skip_conn: None,
            frame: None,
        };
        let (channel, payload) = (self.channel(), serde_json::to_string(&envelope));
        let Ok(payload) = payload else { return };
        let sent = self
            .run(|mut c| async move { c.publish::<_, _, i64>(channel, payload).await })
            .await;
        if sent.is_err() {
            self.invalidation_lost.store(true, Ordering::Relaxed);
        }
    }

    /// Starts the publisher, subscriber and heartbeat tasks.
    pub fn start(self: &Arc<Self>, hooks: Arc<dyn RelayHooks>) {
        if let Some(rx) = self
            .publish_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            tokio::spawn(self.clone().publisher(rx));
        }
        tokio::spawn(self.clone().subscriber(hooks.clone()));
        tokio::spawn(self.clone().heartbeat(hooks));
    }

    async fn publisher(self: Arc<Self>, mut rx: mpsc::Receiver<Outgoing>) {
        let channel = self.channel();
        while let Some(Outgoing {
            payload,
            invalidates,
        }) = rx.recv().await
        {
            self.settle_lost_invalidations().await;
            let mut backoff = Duration::from_millis(100);
            // keep order: retry this event until it goes out or the queue is needed for newer ones
            loop {
                let ch = channel.clone();
                let p = payload.clone();
                match self
                    .run(|mut c| async move { c.publish::<_, _, i64>(ch, p).await })
                    .await
                {
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "relay publish failed; retrying");
                        if rx.len() > PUBLISH_QUEUE / 2 {
                            self.count_dropped(invalidates);
                            break;
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    }

    async fn subscriber(self: Arc<Self>, hooks: Arc<dyn RelayHooks>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.subscribe_once(&hooks).await {
                Ok(()) => tracing::warn!("relay subscription ended; resubscribing"),
                Err(e) => tracing::warn!(error = %e, "relay subscription failed; retrying"),
            }
            if self.subscribed.swap(false, Ordering::Relaxed) {
                backoff = Duration::from_millis(100);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn subscribe_once(&self, hooks: &Arc<dyn RelayHooks>) -> Result<()> {
        let mut pubsub = timed(self.client.get_async_pubsub()).await?;
        timed(pubsub.subscribe(self.channel())).await?;
        // from here on every invalidation reaches us; none from before can be trusted to have
        hooks.resubscribed();
        self.subscribed.store(true, Ordering::Relaxed);
        tracing::info!(node = %self.node_id, "relay subscribed");
        let mut stream = pubsub.on_message();
        while let Some(msg) = stream.next().await {
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            match serde_json::from_str::<Envelope>(&payload) {
                Ok(envelope) if envelope.node != self.node_id => hooks.deliver(envelope).await,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "unreadable relay event"),
            }
        }
        Ok(())
    }
}
