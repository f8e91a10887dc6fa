//! The WebSocket connection layer, kept apart from the chat protocol: frame and message size
//! limits, continuation reassembly, ping/pong, heartbeats and the idle timeout, the close
//! handshake, and the close code of each protocol violation. The chat connection task mounts it,
//! and so does the test-only echo server that the Autobahn TestSuite judges
//! (`tests/autobahn.rs`), so what Autobahn passes is what `/ws` runs.

use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseReason, ProtocolError, Session};
use bytes::Bytes;
use bytestring::ByteString;

/// How long a close frame may wait for a socket that is not being read.
pub const CLOSE_WAIT: Duration = Duration::from_secs(10);
/// For the HTTP server that mounts this layer. actix otherwise lingers after a response whose
/// request body is unread, up to this long, waiting for the peer to close first; a WebSocket's
/// body is never finished, so every socket would outlive its close handshake, where RFC 6455
/// asks the server to close TCP at once. HTTP error replies to unread bodies (413) still arrive:
/// actix answers `Expect: 100-continue` before any body is sent.
pub const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::ZERO;
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_PROTOCOL: u16 = 1002;
pub const CLOSE_INVALID_DATA: u16 = 1007;
pub const CLOSE_TOO_BIG: u16 = 1009;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest frame, and largest message once its continuations are joined.
    pub max_message_bytes: usize,
    pub ping_every: Duration,
    /// A connection that sends nothing, not even a pong, for this long is closed (1000).
    pub idle_after: Duration,
}

/// What the peer sent that the application must look at.
#[derive(Debug)]
pub enum Received {
    Text(ByteString),
    Binary(Bytes),
    Ended(Ending),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The peer closed (its close frame has been answered) or the TCP stream ended.
    ByPeer,
    /// The connection must be closed with this code: a protocol violation or the idle timeout.
    Fail(u16),
}

/// The reading half of a connection. Pings are answered and the heartbeat is sent from here,
/// so the application only sees data messages and the end.
pub struct Inbound {
    stream: AggregatedMessageStream,
    session: Session,
    heartbeat: tokio::time::Interval,
    idle_after: Duration,
    last_heard: Instant,
}

/// Completes the handshake; the writing half is the returned `Session`.
pub fn accept(
    req: &HttpRequest,
    body: web::Payload,
    limits: Limits,
) -> Result<(HttpResponse, Session, Inbound), actix_web::Error> {
    let (response, session, stream) = actix_ws::handle(req, body)?;
    let stream = stream
        .max_frame_size(limits.max_message_bytes)
        .aggregate_continuations()
        .max_continuation_size(limits.max_message_bytes);
    let heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + limits.ping_every,
        limits.ping_every,
    );
    let inbound = Inbound {
        stream,
        session: session.clone(),
        heartbeat,
        idle_after: limits.idle_after,
        last_heard: Instant::now(),
    };
    Ok((response, session, inbound))
}

impl Inbound {
    /// The next data message, or the end of the connection. Safe to race in `select!`: a
    /// cancelled call loses at most a pong that could not be queued anyway.
    pub async fn recv(&mut self) -> Received {
        loop {
            tokio::select! {
                incoming = self.stream.recv() => {
                    self.last_heard = Instant::now();
                    match incoming {
                        None => return Received::Ended(Ending::ByPeer),
                        Some(Ok(AggregatedMessage::Text(text))) => return Received::Text(text),
                        Some(Ok(AggregatedMessage::Binary(bytes))) => return Received::Binary(bytes),
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if self.session.pong(&bytes).await.is_err() {
                                return Received::Ended(Ending::ByPeer);
                            }
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Close(reason))) => {
                            // echo the peer's code, as RFC 6455 asks; actix has validated it
                            let session = self.session.clone();
                            let _ = tokio::time::timeout(CLOSE_WAIT, session.close(reason)).await;
                            return Received::Ended(Ending::ByPeer);
                        }
                        Some(Err(err)) => return Received::Ended(Ending::Fail(violation_code(&err))),
                    }
                }
                _ = self.heartbeat.tick() => {
                    if self.last_heard.elapsed() >= self.idle_after {
                        return Received::Ended(Ending::Fail(CLOSE_NORMAL));
                    }
                    if self.session.ping(b"").await.is_err() {
                        return Received::Ended(Ending::ByPeer);
                    }
                }
            }
        }
    }
}

fn violation_code(err: &ProtocolError) -> u16 {
    match err {
        ProtocolError::Overflow => CLOSE_TOO_BIG,
        // actix reports reserved bits as InvalidData too; only bad UTF-8 is 1007
        ProtocolError::Io(io)
            if io.kind() == std::io::ErrorKind::InvalidData
                && !io.to_string().contains("reserved") =>
        {
            CLOSE_INVALID_DATA
        }
        _ => CLOSE_PROTOCOL,
    }
}

/// The close frame for `code`, with the reason text clients are shown.
fn close_reason(code: u16, text: &str) -> CloseReason {
    CloseReason {
        code: code.into(),
        description: (!text.is_empty()).then(|| text.to_owned()),
    }
}

/// Why the connection layer closes with `code`, for the close frame.
pub fn violation_text(code: u16) -> &'static str {
    match code {
        CLOSE_NORMAL => "idle timeout",
        CLOSE_TOO_BIG => "frame too large",
        CLOSE_INVALID_DATA => "invalid UTF-8",
        CLOSE_PROTOCOL => "protocol error",
        _ => "",
    }
}

/// Sends the close frame, without waiting forever for a peer that does not read.
pub async fn close(session: Session, code: u16, text: &str) {
    let _ = tokio::time::timeout(CLOSE_WAIT, session.close(Some(close_reason(code, text)))).await;
}
