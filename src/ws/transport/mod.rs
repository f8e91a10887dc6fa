//! The WebSocket connection layer, kept apart from the chat protocol: the handshake on an
//! upgraded HTTP/1 connection, frame and message size limits, continuation reassembly, ping/pong,
//! heartbeats and the idle timeout, output coalescing, the close handshake, and the close code of
//! each protocol violation. The chat connection task mounts it, and so does the test-only echo
//! server that the Autobahn TestSuite judges (`tests/autobahn.rs`), so what Autobahn passes is
//! what `/ws` runs.
//!
//! The socket is owned here, not by actix's HTTP dispatcher: once upgraded, a connection holds no
//! HTTP buffers, and an idle one holds no buffers at all (they are allocated when bytes arrive or
//! are queued, and freed once consumed or written). Frames are written straight from this task,
//! several per syscall.

use std::future::poll_fn;
use std::io;
use std::time::Duration;

use actix_codec::{Decoder, Framed};
use actix_http::h1;
use actix_http::ws::{self, CloseReason, Frame, OpCode, Parser};
use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant, Interval};

pub use crate::domain::close::Close;

mod decode;
mod handshake;
pub use handshake::{accept, refuse, verify};

/// How long a close frame (or a handshake reply) may wait for a socket that is not being read.
pub const CLOSE_WAIT: Duration = Duration::from_secs(10);
/// After our close frame, how long the peer has to answer with its own before TCP is closed.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Bytes asked of the kernel per read.
const READ_CHUNK: usize = 4096;
/// Output held per socket before it stops taking frames (see [`WsSocket::wants_frames`]), stops
/// reading from the peer, and holds back its pong; also the bytes that must leave for a socket
/// with a backlog to count as making progress (see [`Limits::write_stall`]).
const OUT_HIGH_WATER: usize = 64 * 1024;

/// An HTTP/1 connection handed over by actix after it parsed a request asking for an upgrade.
pub type Upgraded<T = TcpStream> = Framed<T, h1::Codec>;

/// A stream an upgraded connection arrived on, which this layer takes over as the bare socket.
pub trait IntoTcp {
    fn into_tcp(self) -> TcpStream;
}

impl IntoTcp for TcpStream {
    fn into_tcp(self) -> TcpStream {
        self
    }
}

impl IntoTcp for crate::http::stream::HttpStream {
    fn into_tcp(self) -> TcpStream {
        self.into_tcp()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest frame, and largest message once its continuations are joined.
    pub max_message_bytes: usize,
    pub ping_every: Duration,
    /// A connection that sends nothing, not even a pong, for this long is closed (1000).
    pub idle_after: Duration,
    /// A socket whose queued output neither empties nor loses 64 KiB for this long is closed
    /// (1013), whatever the peer keeps sending meanwhile.
    pub write_stall: Duration,
    /// Output to a socket written less than this long ago waits out the rest of the window, so
    /// under load the frames of several messages leave in one write; output that follows a
    /// message from the peer (its reply) is never held.
    pub coalesce: Duration,
}

/// What [`WsSocket::recv`] reports: what the peer sent that the application must look at, or
/// that the socket has started to want frames again (see [`WsSocket::wants_frames`]).
#[derive(Debug)]
pub enum Received {
    Text(ByteString),
    Binary(Bytes),
    WantsFrames,
    Ended(Ending),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The peer closed (its close frame has been answered) or the TCP stream ended.
    ByPeer,
    /// The connection must be closed with this code: a protocol violation, the idle timeout, or
    /// a socket that stopped taking bytes.
    Fail(Close),
}

enum Wake {
    Readable(io::Result<()>),
    Writable(io::Result<()>),
    FlushDue,
    Stalled,
    Heartbeat,
}

/// One accepted WebSocket. A single task drives it: `recv` reads, answers pings, keeps the
/// heartbeat and writes queued output when it is due; `send_text` only queues.
///
/// Readiness is awaited with `poll_read_ready` / `poll_write_ready`, not `readable()`: those
/// replace the waker that actix's HTTP dispatcher left in the socket's reader slot, which
/// otherwise keeps that finished task's whole allocation alive until the peer next sends.
pub struct WsSocket {
    io: TcpStream,
    codec: ws::Codec,
    limits: Limits,
    read_buf: BytesMut,
    partial: Option<decode::Partial>,
    out: BytesMut,
    /// When the queued output is to be written; `None` while nothing is queued.
    flush_at: Option<Instant>,
    /// When `out` last emptied; `None` until then, and after a message from the peer.
    last_flush: Option<Instant>,
    /// When output was queued into an empty buffer, or the socket last took 64 KiB of a backlog.
    write_progress: Instant,
    /// Bytes the socket took since `write_progress`.
    written_since_progress: usize,
    /// The payload of the latest ping not answered yet: one pong at most waits, whatever the
    /// peer sends (RFC 6455 allows answering only the latest ping).
    pending_pong: Option<Bytes>,
    heartbeat: Interval,
    last_heard: Instant,
    /// A close frame is queued: nothing may follow it.
    closing: bool,
    /// The peer's close frame has arrived, or it broke the protocol: nothing more is read.
    peer_closed: bool,
}

impl WsSocket {
    fn new(io: TcpStream, read_buf: BytesMut, limits: Limits) -> Self {
        let now = Instant::now();
        WsSocket {
            io,
            codec: ws::Codec::new().max_size(limits.max_message_bytes),
            limits,
            read_buf,
            partial: None,
            out: BytesMut::new(),
            flush_at: None,
            last_flush: None,
            write_progress: now,
            written_since_progress: 0,
            pending_pong: None,
            heartbeat: tokio::time::interval_at(now + limits.ping_every, limits.ping_every),
            last_heard: now,
            closing: false,
            peer_closed: false,
        }
    }

    /// Whether to hand this socket more frames now. No while its output is large (frames then
    /// back up in the application's queue, which is how slow consumers are found), nor while
    /// queued output waits out a coalescing window: frames left in the queue meanwhile are moved
    /// in one go when it ends, instead of waking the task once per frame.
    pub fn wants_frames(&self) -> bool {
        self.out.is_empty() || (self.out.len() < OUT_HIGH_WATER && self.flush_due(Instant::now()))
    }

    /// Queues a text frame, written when due (see [`Limits::coalesce`]).
    pub fn send_text(&mut self, payload: &[u8]) {
        self.queue(OpCode::Text, payload, false);
    }

    pub fn send_binary(&mut self, payload: &[u8]) {
        self.queue(OpCode::Binary, payload, false);
    }

    fn queue(&mut self, opcode: OpCode, payload: &[u8], urgent: bool) {
        if self.closing {
            return;
        }
        let was_empty = self.out.is_empty();
        Parser::write_message(&mut self.out, payload, opcode, true, false);
        if !was_empty && !urgent && self.flush_at.is_some() {
            return; // rides with the output already queued
        }
        let now = Instant::now();
        if was_empty {
            self.write_progress = now;
            self.written_since_progress = 0;
        }
        let due = match self.last_flush {
            Some(at) if !urgent && now < at + self.limits.coalesce => at + self.limits.coalesce,
            _ => now,
        };
        self.flush_at = Some(self.flush_at.map_or(due, |at| at.min(due)));
    }

    fn queue_close(&mut self, reason: Option<CloseReason>) {
        if !self.closing {
            Parser::write_close(&mut self.out, reason, false);
            self.closing = true;
            self.flush_at = Some(Instant::now());
        }
    }

    /// Above the high-water mark the peer is not read: a client that sends faster than it reads
    /// (pings, requests) meets TCP backpressure instead of growing this buffer.
    fn reading_paused(&self) -> bool {
        self.out.len() >= OUT_HIGH_WATER
    }

    /// Queues the pong of the latest ping, unless the output is too large to take it yet.
    fn stage_pong(&mut self) {
        if self.out.len() < OUT_HIGH_WATER {
            if let Some(payload) = self.pending_pong.take() {
                self.queue(OpCode::Pong, &payload, true);
            }
        }
    }

    /// Writes as much queued output as the socket takes now, without waiting.
    fn write_ready(&mut self) -> io::Result<()> {
        loop {
            while !self.out.is_empty() {
                match self.io.try_write(&self.out) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.out.advance(n);
                        // a peer that reads a few bytes now and then does not reset the clock
                        self.written_since_progress += n;
                        if self.written_since_progress >= OUT_HIGH_WATER {
                            self.write_progress = Instant::now();
                            self.written_since_progress = 0;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.stage_pong();
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
            }
            if self.pending_pong.is_none() || self.closing {
                break;
            }
            self.stage_pong();
        }
        // an idle socket keeps no buffer
        self.out = BytesMut::new();
        self.flush_at = None;
        self.last_flush = Some(Instant::now());
        Ok(())
    }

    fn flush_due(&self, now: Instant) -> bool {
        self.flush_at.is_some_and(|at| at <= now)
    }

    /// Reads what the kernel has; `false` once the stream has ended.
    fn read_ready(&mut self) -> bool {
        if self.read_buf.capacity() - self.read_buf.len() < READ_CHUNK / 4 {
            self.read_buf.reserve(READ_CHUNK);
        }
        match self.io.try_read_buf(&mut self.read_buf) {
            Ok(0) => false,
            Ok(_) => {
                self.last_heard = Instant::now();
                true
            }
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        }
    }

    /// The next data message, or the end of the connection. Safe to race in `select!`: state
    /// only changes between awaits.
    pub async fn recv(&mut self) -> Received {
        let wanted_frames = self.wants_frames();
        loop {
            if !wanted_frames && self.wants_frames() {
                return Received::WantsFrames;
            }
            if !self.peer_closed {
                match self.next_buffered() {
                    Ok(Some(message)) => {
                        // the reply to it must not wait out a coalescing window
                        self.last_flush = None;
                        if self.flush_at.is_some() {
                            self.flush_at = Some(Instant::now());
                        }
                        return message;
                    }
                    Ok(None) => {}
                    Err(code) => {
                        // failing the connection: close at once, without awaiting a reply
                        self.peer_closed = true;
                        return Received::Ended(Ending::Fail(code));
                    }
                }
            }
            if self.peer_closed {
                let _ = timeout(CLOSE_WAIT, self.flush_all()).await;
                return Received::Ended(Ending::ByPeer);
            }
            let now = Instant::now();
            if self.flush_due(now) && self.write_ready().is_err() {
                return Received::Ended(Ending::ByPeer);
            }
            let stall_at = self.write_progress + self.limits.write_stall;
            // checked here too: a peer that keeps the socket readable must not starve the timer
            if !self.out.is_empty() && now >= stall_at {
                return Received::Ended(Ending::Fail(Close::SlowConsumer));
            }
            let must_write = !self.out.is_empty() && self.flush_due(now);
            // One timer for both deadlines (the stall while a write waits, else the end of the
            // coalescing window): each timer is ~100 bytes of every idle connection's state.
            let deadline = if must_write {
                Some(stall_at)
            } else {
                self.flush_at
            };
            let read = !self.reading_paused();
            let wake = tokio::select! {
                biased;
                ready = poll_fn(|cx| self.io.poll_read_ready(cx)), if read => Wake::Readable(ready),
                ready = poll_fn(|cx| self.io.poll_write_ready(cx)), if must_write => Wake::Writable(ready),
                () = sleep_until(deadline.unwrap_or(now)), if deadline.is_some() => {
                    if must_write { Wake::Stalled } else { Wake::FlushDue }
                }
                _ = self.heartbeat.tick() => Wake::Heartbeat,
            };
            match wake {
                Wake::Readable(Ok(())) => {
                    if !self.read_ready() {
                        return Received::Ended(Ending::ByPeer);
                    }
                }
                Wake::Writable(Ok(())) => {
                    if self.write_ready().is_err() {
                        return Received::Ended(Ending::ByPeer);
                    }
                }
                Wake::Readable(Err(_)) | Wake::Writable(Err(_)) => {
                    return Received::Ended(Ending::ByPeer)
                }
                Wake::FlushDue => {}
                Wake::Stalled => return Received::Ended(Ending::Fail(Close::SlowConsumer)),
                Wake::Heartbeat => {
                    // a peer that is not being read is not idle: the stall check covers it
                    if !self.reading_paused() && self.last_heard.elapsed() >= self.limits.idle_after
                    {
                        return Received::Ended(Ending::Fail(Close::IdleTimeout));
                    }
                    self.queue(OpCode::Ping, b"", true);
                }
            }
        }
    }

    /// Writes everything queued, waiting for the socket as long as it takes.
    async fn flush_all(&mut self) -> io::Result<()> {
        loop {
            self.write_ready()?;
            if self.out.is_empty() {
                return Ok(());
            }
            poll_fn(|cx| self.io.poll_write_ready(cx)).await?;
        }
    }

    /// Sends what is queued and then a close frame with `code`, waits briefly for the peer's
    /// close frame, and closes TCP. Bounded in time for peers that do not read.
    pub async fn close(mut self, close: Close) {
        self.queue_close(Some(CloseReason {
            code: close.code().into(),
            description: Some(close.text().to_owned()),
        }));
        if timeout(CLOSE_WAIT, self.flush_all()).await.is_ok() && !self.peer_closed {
            let _ = timeout(CLOSE_LINGER, self.await_peer_close()).await;
        }
    }

    async fn await_peer_close(&mut self) {
        loop {
            loop {
                match self.codec.decode(&mut self.read_buf) {
                    Ok(Some(Frame::Close(_))) | Err(_) => return,
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                }
            }
            if poll_fn(|cx| self.io.poll_read_ready(cx)).await.is_err() || !self.read_ready() {
                return;
            }
        }
    }
}
