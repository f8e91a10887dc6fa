//! The session registry: user id -> that user's live connections on this node.
//!
//! Sharded so that fan-out from many threads at once does not meet on one lock. It holds only
//! the sending half of each connection's bounded queue; the connection task owns the socket.
//! Delivery never waits: a full queue marks a slow consumer, which is closed with 1013.

use crate::domain::ids::{ConnId, UserId};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll, Waker};

use bytestring::ByteString;

use crate::domain::close::Close;

/// One serialized server frame, shared by every recipient without copying.
pub type Frame = ByteString;

/// One connection's queue of frames to write, and its close request. Pushes never wait; the
/// connection task takes everything queued at once (one lock per batch, not per frame), and is
/// woken for frames only while it wants them. Holds no allocation while empty.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<OutboxState>,
    capacity: usize,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct OutboxState {
    frames: VecDeque<Frame>,
    /// The bytes of `frames`.
    bytes: usize,
    /// The first close request wins.
    close: Option<Close>,
    /// The connection task, while it waits.
    waiter: Option<Waker>,
    /// Whether pushes should wake the waiter, or only a close request.
    waiter_wants_frames: bool,
}

/// What the connection task is woken for.
#[derive(Debug)]
pub enum Next {
    Close(Close),
    Frames(VecDeque<Frame>),
}

impl Outbox {
    /// A queue that holds at most `capacity` frames and `max_bytes` bytes before its connection
    /// counts as a slow consumer. An empty queue takes any one frame, so that a reply larger
    /// than `max_bytes` still reaches a client that reads.
    pub fn new(capacity: usize, max_bytes: usize) -> Outbox {
        Outbox {
            state: Mutex::default(),
            capacity: capacity.max(1),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame without waiting; a full queue closes the connection as a slow consumer.
    pub fn push(&self, frame: &Frame) -> bool {
        let mut state = self.lock();
        if state.close.is_some() {
            return false;
        }
        let over_bytes =
            !state.frames.is_empty() && state.bytes.saturating_add(frame.len()) > self.max_bytes;
        if state.frames.len() >= self.capacity || over_bytes {
            drop(state);
            metrics::counter!("ws_slow_consumer_closes_total").increment(1);
            self.close(Close::SlowConsumer);
            return false;
        }
        state.frames.push_back(frame.clone());
        state.bytes += frame.len();
        let waiter = if state.waiter_wants_frames {
            state.waiter.take()
        } else {
            None
        };
        drop(state);
        if let Some(waiter) = waiter {
            waiter.wake();
        }
        true
    }

    /// Asks the connection task to close for `reason`.
    pub fn close(&self, code: Close) {
        let mut state = self.lock();
        if state.close.is_some() {
            return;
        }
        state.close = Some(code);
        let waiter = state.waiter.take();
        drop(state);
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

    /// For the connection task: a close request, or (when it wants frames) everything queued.
    pub fn poll_next(&self, cx: &mut Context<'_>, wants_frames: bool) -> Poll<Next> {
        let mut state = self.lock();
        if let Some(code) = state.close {
            return Poll::Ready(Next::Close(code));
        }
        if wants_frames && !state.frames.is_empty() {
            state.bytes = 0;
            return Poll::Ready(Next::Frames(std::mem::take(&mut state.frames)));
        }
        if !state
            .waiter
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waiter = Some(cx.waker().clone());
        }
        state.waiter_wants_frames = wants_frames;
        Poll::Pending
    }

    /// Everything queued, without waiting (the goodbye flush).
    pub fn take_all(&self) -> VecDeque<Frame> {
        let mut state = self.lock();
        state.bytes = 0;
        std::mem::take(&mut state.frames)
    }

    pub fn queued(&self) -> usize {
        self.lock().frames.len()
    }
}

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

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll};

    use futures_util::task::noop_waker_ref;

    use super::*;

    fn frame(bytes: usize) -> Frame {
        Frame::from("x".repeat(bytes))
    }

    fn poll(outbox: &Outbox) -> Poll<Next> {
        outbox.poll_next(&mut Context::from_waker(noop_waker_ref()), true)
    }

    #[test]
    fn the_outbox_is_bounded_in_frames() {
        let outbox = Outbox::new(3, usize::MAX);
        for _ in 0..3 {
            assert!(outbox.push(&frame(1)));
        }
        assert!(!outbox.push(&frame(1)), "a fourth frame is refused");
        assert!(matches!(
            poll(&outbox),
            Poll::Ready(Next::Close(Close::SlowConsumer))
        ));
    }

    #[test]
    fn the_outbox_is_bounded_in_bytes() {
        let outbox = Outbox::new(1024, 1000);
        assert!(outbox.push(&frame(600)));
        assert!(outbox.push(&frame(400)), "exactly the bound fits");
        assert!(!outbox.push(&frame(1)), "one byte more is a slow consumer");
        assert!(matches!(
            poll(&outbox),
            Poll::Ready(Next::Close(Close::SlowConsumer))
        ));
    }

    #[test]
    fn taken_frames_no_longer_count_against_the_bytes() {
        let outbox = Outbox::new(1024, 1000);
        assert!(outbox.push(&frame(900)));
        assert!(
            matches!(poll(&outbox), Poll::Ready(Next::Frames(frames)) if frames.len() == 1),
            "the connection task takes the frame"
        );
        assert!(outbox.push(&frame(900)), "the queue is empty again");
        assert_eq!(outbox.take_all().len(), 1);
        assert!(outbox.push(&frame(900)));
        assert_eq!(outbox.queued(), 1);
    }

    #[test]
    fn an_empty_outbox_takes_one_frame_larger_than_the_bound() {
        let outbox = Outbox::new(1024, 1000);
        assert!(outbox.push(&frame(5000)));
        assert!(!outbox.push(&frame(1)));
        assert!(matches!(
            poll(&outbox),
            Poll::Ready(Next::Close(Close::SlowConsumer))
        ));
    }

    #[test]
    fn the_first_close_request_wins_and_refuses_later_frames() {
        let outbox = Outbox::new(8, 1000);
        assert!(outbox.push(&frame(10)));
        outbox.close(Close::GoingAway);
        outbox.close(Close::SlowConsumer);
        assert!(
            !outbox.push(&frame(10)),
            "nothing is queued after a close request"
        );
        assert!(matches!(
            poll(&outbox),
            Poll::Ready(Next::Close(Close::GoingAway))
        ));
        assert_eq!(
            outbox.take_all().len(),
            1,
            "what was queued before stays for the goodbye"
        );
    }

    #[test]
    fn an_idle_outbox_waits() {
        let outbox = Outbox::new(8, 1000);
        assert!(poll(&outbox).is_pending());
    }

    #[test]
    fn slots_are_capped_per_user_and_freed_on_drop() {
        let registry = Registry::new();
        let first = registry.claim_slot(UserId(7), Some(2));
        let second = registry.claim_slot(UserId(7), Some(2));
        assert!(first.is_some() && second.is_some());
        assert!(
            registry.claim_slot(UserId(7), Some(2)).is_none(),
            "the cap holds"
        );
        assert!(
            registry.claim_slot(UserId(8), Some(2)).is_some(),
            "per user"
        );
        drop(first);
        let third = registry.claim_slot(UserId(7), Some(2));
        assert!(third.is_some(), "a freed slot can be taken again");
        assert!(
            registry.claim_slot(UserId(7), None).is_some(),
            "no cap: always"
        );
        drop((second, third));
        assert!(
            registry.slots.shard(UserId(7)).is_empty(),
            "no entry is left behind"
        );
    }
}
