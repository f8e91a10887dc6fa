//! The session registry: user id -> that user's live connections on this node.
//!
//! Sharded so that fan-out from many threads at once does not meet on one lock. It holds only
//! the sending half of each connection's bounded queue; the connection task owns the socket.
//! Delivery never waits: a full queue marks a slow consumer, which is closed with 1013.

use crate::domain::ids::{ConnId, SessionId, UserId};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytestring::ByteString;

mod outbox;
#[cfg(test)]
mod tests;

pub use outbox::{Next, Outbox};

use crate::domain::close::Close;

/// One serialized server frame, shared by every recipient without copying.
pub type Frame = ByteString;

/// A live connection, as the registry holds it.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    pub conn_id: ConnId,
    pub outbox: Arc<Outbox>,
}

impl ConnHandle {
    /// Queues a frame without waiting; a full queue closes the connection as a slow consumer.
    pub fn push(&self, frame: &Frame) -> bool {
        self.outbox.push(frame)
    }
}

type Shard = RwLock<HashMap<UserId, Vec<ConnHandle>>>;

pub struct Registry {
    shards: Box<[Shard]>,
    slots: Arc<Slots>,
    /// Connection tasks still running, including ones saying goodbye after unregistering.
    tasks: std::sync::atomic::AtomicUsize,
}

/// Counts a running connection task for as long as it lives.
pub struct TaskGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Connection slots taken per user, sharded like the connections.
struct Slots(Box<[Mutex<HashMap<UserId, usize>>]>);

impl Slots {
    fn shard(&self, user_id: UserId) -> MutexGuard<'_, HashMap<UserId, usize>> {
        self.0[(user_id.0.unsigned_abs() as usize) & (self.0.len() - 1)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// One of a user's connection slots, taken at admission (before the 101) and held until the
/// connection task ends: the per-user cap is checked and claimed in one step, so concurrent
/// upgrades cannot all pass a check made before any of them registered.
pub struct Slot {
    slots: Arc<Slots>,
    user_id: UserId,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("user_id", &self.user_id)
            .finish()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut shard = self.slots.shard(self.user_id);
        if let Some(taken) = shard.get_mut(&self.user_id) {
            *taken = taken.saturating_sub(1);
            if *taken == 0 {
                shard.remove(&self.user_id);
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Registered {
    /// The user had no other connection on this node.
    First,
    Another,
}

/// Who, among the audience, is left out of one delivery.
#[derive(Debug, Default, Clone, Copy)]
pub struct Skip {
    pub user: Option<UserId>,
    pub conn: Option<ConnId>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Registry {
        let count = (std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4)
            * 16)
            .next_power_of_two();
        Registry {
            shards: (0..count).map(|_| RwLock::new(HashMap::new())).collect(),
            slots: Arc::new(Slots(
                (0..count).map(|_| Mutex::new(HashMap::new())).collect(),
            )),
            tasks: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn shard(&self, user_id: UserId) -> &Shard {
        &self.shards[(user_id.0.unsigned_abs() as usize) & (self.shards.len() - 1)]
    }

    pub fn connections_of(&self, user_id: UserId) -> usize {
        let shard = self
            .shard(user_id)
            .read()
            .unwrap_or_else(|p| p.into_inner());
        shard.get(&user_id).map_or(0, Vec::len)
    }

    /// Takes one of `user_id`'s connection slots, unless `max` are taken already (`None`: no
    /// cap).
    pub fn claim_slot(&self, user_id: UserId, max: Option<usize>) -> Option<Slot> {
        let mut shard = self.slots.shard(user_id);
        let taken = shard.get(&user_id).copied().unwrap_or(0);
        if max.is_some_and(|max| taken >= max) {
            return None;
        }
        shard.insert(user_id, taken + 1);
        Some(Slot {
            slots: self.slots.clone(),
            user_id,
        })
    }

    pub fn is_online(&self, user_id: UserId) -> bool {
        self.connections_of(user_id) > 0
    }

    pub fn register(&self, user_id: UserId, handle: ConnHandle) -> Registered {
        let mut shard = self
            .shard(user_id)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let conns = shard.entry(user_id).or_default();
        conns.push(handle);
        metrics::gauge!("ws_connections").increment(1.0);
        if conns.len() == 1 {
            Registered::First
        } else {
            Registered::Another
        }
    }

    /// Removes a connection; `true` when it was the user's last one on this node.
    pub fn unregister(&self, user_id: UserId, conn_id: ConnId) -> bool {
        let mut shard = self
            .shard(user_id)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let Some(conns) = shard.get_mut(&user_id) else {
            return false;
        };
        let before = conns.len();
        conns.retain(|c| c.conn_id != conn_id);
        if conns.len() < before {
            metrics::gauge!("ws_connections").decrement(1.0);
        }
        if conns.is_empty() {
            shard.remove(&user_id);
            return before > 0;
        }
        false
    }

    /// Queues `frame` on every connection of every user in `users`, minus `skip`.
    /// Returns the number of connections it was queued on.
    pub fn deliver(&self, users: &[UserId], frame: &Frame, skip: Skip) -> usize {
        let mut delivered = 0;
        for &user_id in users {
            if skip.user == Some(user_id) {
                continue;
            }
            let shard = self
                .shard(user_id)
                .read()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(conns) = shard.get(&user_id) {
                for conn in conns {
                    if skip.conn != Some(conn.conn_id) && conn.push(frame) {
                        delivered += 1;
                    }
                }
            }
        }
        if delivered > 0 {
            metrics::counter!("ws_fanout_deliveries_total").increment(delivered as u64);
        }
        delivered
    }

    /// Queues `frame` on one connection of `user_id`.
    pub fn deliver_to_conn(&self, user_id: UserId, conn_id: ConnId, frame: &Frame) -> bool {
        let shard = self
            .shard(user_id)
            .read()
            .unwrap_or_else(|p| p.into_inner());
        shard
            .get(&user_id)
            .and_then(|conns| conns.iter().find(|c| c.conn_id == conn_id))
            .is_some_and(|c| c.push(frame))
    }

    /// Closes this node's connections of `user_id` that live by one of `sessions` (4003).
    pub fn close_sessions(&self, user_id: UserId, sessions: &[SessionId]) -> usize {
        let shard = self
            .shard(user_id)
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let mut closed = 0;
        for conn in shard.get(&user_id).into_iter().flatten() {
            let session = conn.outbox.session();
            if sessions.iter().any(|s| s.0 == session) {
                conn.outbox.close(Close::SessionEnded);
                closed += 1;
            }
        }
        closed
    }

    /// The sessions that connections on this node live by (each once).
    pub fn live_sessions(&self) -> Vec<SessionId> {
        let mut sessions: Vec<SessionId> = self
            .shards
            .iter()
            .flat_map(|s| {
                let shard = s.read().unwrap_or_else(|p| p.into_inner());
                shard
                    .values()
                    .flatten()
                    .map(|conn| SessionId(conn.outbox.session()))
                    .collect::<Vec<_>>()
            })
            .filter(|s| s.0 != 0)
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }

    /// Asks every connection on this node to close (shutdown: 1001).
    pub fn close_all(&self, code: Close) {
        for shard in self.shards.iter() {
            let shard = shard.read().unwrap_or_else(|p| p.into_inner());
            for conn in shard.values().flatten() {
                conn.outbox.close(code);
            }
        }
    }

    /// Users with at least one connection on this node.
    pub fn online_users(&self) -> Vec<UserId> {
        self.shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .unwrap_or_else(|p| p.into_inner())
                    .keys()
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn track_task(&self) -> TaskGuard<'_> {
        self.tasks.fetch_add(1, Ordering::AcqRel);
        TaskGuard(&self.tasks)
    }

    /// Frames waiting in every connection queue on this node (sampled for /metrics).
    pub fn queued_frames(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let shard = s.read().unwrap_or_else(|p| p.into_inner());
                shard
                    .values()
                    .flatten()
                    .map(|c| c.outbox.queued())
                    .sum::<usize>()
            })
            .sum()
    }

    pub fn running_tasks(&self) -> usize {
        self.tasks.load(Ordering::Acquire)
    }

    pub fn total_connections(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .map(Vec::len)
                    .sum::<usize>()
            })
            .sum()
    }
}
