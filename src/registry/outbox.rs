//! One connection's bounded queue of frames and its close request: what the fan-out pushes into
//! without waiting, and what the connection task drains into its socket.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::Frame;
use crate::domain::close::Close;

/// One connection's queue of frames to write, and its close request. Pushes never wait; the
/// connection task takes everything queued at once (one lock per batch, not per frame), and is
/// woken for frames only while it wants them. Holds no allocation while empty.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<OutboxState>,
    capacity: usize,
    max_bytes: usize,
    /// The login session the connection lives by (it follows in-band `auth`), so that ending
    /// that session can close it; 0 until set.
    session: AtomicI64,
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
            session: AtomicI64::new(0),
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

    pub fn session(&self) -> i64 {
        self.session.load(Ordering::Acquire)
    }

    pub fn set_session(&self, session: i64) {
        self.session.store(session, Ordering::Release);
    }

    pub fn queued(&self) -> usize {
        self.lock().frames.len()
    }
}
