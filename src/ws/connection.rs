//! The connection task (the connection's "actor"): owns the socket, answers the connection's
//! requests in order, and writes what the registry queues for it.

use crate::domain::ids::ConnId;
use std::future::poll_fn;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::protocol::{self, Request, SyncFrom};
use super::transport::{Ending, Received, WsSocket};
use crate::domain::close::Close;
use crate::domain::error::ErrorCode;
use crate::http::extract::AuthUser;
use crate::registry::{ConnHandle, Frame, Next, Outbox, Slot};
use crate::services::accounts::Accounts;
use crate::services::chat::events::{encode, Ack, ServerEvent};
use crate::services::chat::{Chat, MessageRef, Origin, SendInput};
use crate::services::Error;

fn next_conn_id() -> ConnId {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    // random high bits keep ids distinct across restarts and nodes
    let seed = *SEED.get_or_init(|| rand::random::<u64>() & 0xFFFF_FFFF_0000_0000);
    ConnId(seed | (NEXT.fetch_add(1, Ordering::Relaxed) & 0xFFFF_FFFF))
}

fn error_frame(id: &Value, code: &str, message: &str) -> Frame {
    encode(&ServerEvent::Error { id, code, message })
}

/// The one mapping from service errors to WebSocket error frames: the same codes HTTP uses.
fn chat_error_frame(id: &Value, err: &Error) -> Frame {
    error_frame(id, err.code().as_str(), &err.public_message())
}

#[derive(Debug, Clone, Copy)]
pub struct ConnSettings {
    /// Frames queued before the connection counts as a slow consumer.
    pub queue_frames: usize,
    /// Bytes queued before the connection counts as a slow consumer.
    pub queue_bytes: usize,
}

struct Conn {
    chat: Chat,
    accounts: Accounts,
    auth: AuthUser,
    conn_id: ConnId,
    handle: ConnHandle,
    /// The `exp` of a token an `auth` request just handed over (0: none), for the read loop
    /// to move its expiry timer to.
    renewed_exp: AtomicI64,
}

/// When a token whose `exp` is `exp` (seconds since the epoch) expires, as a timer deadline.
fn expiry_deadline(exp: i64) -> tokio::time::Instant {
    let left = u64::try_from(exp - chrono::Utc::now().timestamp()).unwrap_or(0);
    tokio::time::Instant::now() + Duration::from_secs(left)
}

impl Conn {
    /// Queues a reply for this connection, behind whatever events are already queued.
    fn reply(&self, frame: &Frame) {
        self.handle.push(frame);
    }

    async fn handle_text(&self, text: &str) {
        let (id, request) = protocol::parse(text);
        let request = match request {
            Ok(request) => request,
            Err(refusal) => {
                metrics::counter!("ws_frames_in_total", "type" => "invalid").increment(1);
                return self.reply(&error_frame(&id, refusal.code, &refusal.message));
            }
        };
        let user = &self.auth.user;
        let outcome: Result<(), Error> = match request {
            Request::Send(send) => {
                metrics::counter!("ws_frames_in_total", "type" => "send").increment(1);
                let origin = self.origin(&id);
                let input = SendInput {
                    thread_id: send.thread_id,
                    text: Some(send.text),
                    client_msg_id: send.client_msg_id,
                    reply_to: send.reply_to,
                    files: Vec::new(),
                };
                // the ack is queued by the chat service, in order with the thread's events
                self.chat
                    .send(user.id, input, Some(origin))
                    .await
                    .map(|_| ())
            }
            // the ack of a change is queued by the chat service, in order with its events
            Request::Edit(edit) => {
                metrics::counter!("ws_frames_in_total", "type" => "edit").increment(1);
                self.chat
                    .edit(
                        user.id,
                        MessageRef::Visible(edit.message_id),
                        edit.text,
                        Some(self.origin(&id)),
                    )
                    .await
                    .map(|_| ())
            }
            Request::Delete(delete) => {
                metrics::counter!("ws_frames_in_total", "type" => "delete").increment(1);
                self.chat
                    .delete(
                        user.id,
                        MessageRef::Visible(delete.message_id),
                        Some(self.origin(&id)),
                    )
                    .await
                    .map(|_| ())
            }
            Request::React(react) => {
                metrics::counter!("ws_frames_in_total", "type" => "react").increment(1);
                self.chat
                    .react(
                        user.id,
                        MessageRef::Visible(react.message_id),
                        react.emoji,
                        react.on,
                        Some(self.origin(&id)),
                    )
                    .await
                    .map(|_| ())
            }
            Request::Typing(typing) => {
                metrics::counter!("ws_frames_in_total", "type" => "typing").increment(1);
                self.chat
                    .typing(user, typing.thread_id, typing.is_typing)
                    .await
                    .map(|()| self.ack_if_asked(&id))
            }
            Request::Read(read) => {
                metrics::counter!("ws_frames_in_total", "type" => "read").increment(1);
                self.chat
                    .mark_read(user.id, read.thread_id, read.message_id, Some(self.conn_id))
                    .await
                    .map(|()| self.ack_if_asked(&id))
            }
            Request::History(history) => {
                metrics::counter!("ws_frames_in_total", "type" => "history").increment(1);
                self.chat
                    .history(
                        user.id,
                        history.thread_id,
                        history.before,
                        None,
                        history.limit,
                    )
                    .await
                    .map(|(messages, has_more)| self.reply_messages(&id, &messages, has_more))
            }
            Request::Sync(sync) => {
                metrics::counter!("ws_frames_in_total", "type" => "sync").increment(1);
                match sync.from {
                    SyncFrom::After(after) => {
                        self.chat.sync(user.id, after, sync.limit).await.map(
                            |(messages, has_more)| self.reply_messages(&id, &messages, has_more),
                        )
                    }
                    SyncFrom::Since(since) => {
                        self.chat.sync_since(user.id, &since, sync.limit).await.map(
                            |(messages, has_more, cursor)| {
                                self.reply(&encode(&ServerEvent::Ack(Ack {
                                    messages: Some(&messages),
                                    has_more: Some(has_more),
                                    cursor: Some(cursor),
                                    ..Ack::empty(&id)
                                })))
                            },
                        )
                    }
                }
            }
            Request::Ping => {
                metrics::counter!("ws_frames_in_total", "type" => "ping").increment(1);
                self.reply(&encode(&ServerEvent::Pong { id: &id }));
                Ok(())
            }
            Request::Auth(auth) => {
                metrics::counter!("ws_frames_in_total", "type" => "auth").increment(1);
                Box::pin(self.reauthenticate(auth.token))
                    .await
                    .map(|()| self.reply(&encode(&ServerEvent::Ack(Ack::empty(&id)))))
            }
        };
        if let Err(err) = outcome {
            self.reply(&chat_error_frame(&id, &err));
        }
    }

    fn origin(&self, id: &Value) -> Origin {
        Origin {
            user_id: self.auth.user.id,
            conn_id: self.conn_id,
            request_id: id.clone(),
        }
    }

    /// `auth`: the connection lives by a newer token of the same user from now on (its `exp`
    /// and its session); a refused token changes nothing.
    async fn reauthenticate(&self, token: String) -> Result<(), Error> {
        use crate::services::accounts::MSG_INVALID_TOKEN;
        let fresh = match self.accounts.authenticate(Some(token)).await {
            Ok(fresh) => fresh,
            Err(Error::Unauthorized(_)) => return Err(Error::Unauthorized(MSG_INVALID_TOKEN)),
            Err(e) => return Err(e),
        };
        if fresh.user.id != self.auth.user.id {
            return Err(Error::Unauthorized("the token is of another user"));
        }
        let outbox = &self.handle.outbox;
        outbox.set_session(fresh.session.0);
        // an end of the new session between its check and now found no connection of it
        if !self
            .accounts
            .session_is_open(fresh.user.id, fresh.session)
            .await?
        {
            outbox.close(Close::SessionEnded);
            return Ok(());
        }
        self.renewed_exp.store(fresh.expires_at, Ordering::Release);
        Ok(())
    }

    /// `typing` and `read` have no reply of their own; one that carries an id gets an empty ack.
    fn ack_if_asked(&self, id: &Value) {
        if !id.is_null() {
            self.reply(&encode(&ServerEvent::Ack(Ack::empty(id))));
        }
    }

    fn reply_messages(&self, id: &Value, messages: &[crate::db::models::Message], has_more: bool) {
        self.reply(&encode(&ServerEvent::Ack(Ack {
            messages: Some(messages),
            has_more: Some(has_more),
            ..Ack::empty(id)
        })));
    }
}

/// Serves one WebSocket until it closes, then unregisters it.
/// `_slot` is the user's connection slot, given back when the task ends.
pub async fn run(
    chat: Chat,
    accounts: Accounts,
    auth: AuthUser,
    _slot: Slot,
    mut socket: WsSocket,
    settings: ConnSettings,
) {
    let _running = chat.registry().track_task();
    let conn_id = next_conn_id();
    let user_id = auth.user.id;
    let outbox = Arc::new(Outbox::new(settings.queue_frames, settings.queue_bytes));
    // before registering: ending the session from then on finds this connection by it
    outbox.set_session(auth.session.0);
    let handle = ConnHandle {
        conn_id,
        outbox: outbox.clone(),
    };
    let connection_id = format!("{:016x}", conn_id.0);
    // Registered first, so that once a client sees `ready` it misses nothing; `ready` and the
    // presence snapshot go to the socket ahead of anything queued meanwhile, so `ready` is the
    // first frame and a user with many online contacts cannot overflow their own queue. The big
    // one-off futures are boxed: the task's own state is held for the socket's whole life.
    let online_contacts = Box::pin(chat.connected(user_id, handle.clone())).await;
    // an end of the session between the upgrade's check and the registration found nothing
    if !Box::pin(accounts.session_is_open(user_id, auth.session))
        .await
        .unwrap_or(true)
    {
        outbox.close(Close::SessionEnded);
    }
    // read after registering: what changes later arrives live, or by a sync from here
    let cursor = Box::pin(chat.feed_cursor()).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "no feed cursor for ready; handing out the start");
        crate::domain::feed::Seq::START
    });
    socket.send_text(
        encode(&ServerEvent::Ready {
            user: &auth.user,
            connection_id: &connection_id,
            cursor,
        })
        .as_bytes(),
    );
    for contact in online_contacts {
        socket.send_text(
            encode(&ServerEvent::Presence {
                user_id: contact,
                online: true,
            })
            .as_bytes(),
        );
    }

    let conn = Conn {
        chat: chat.clone(),
        accounts,
        auth,
        conn_id,
        handle,
        renewed_exp: AtomicI64::new(0),
    };
    let token_expiry = tokio::time::sleep_until(expiry_deadline(conn.auth.expires_at));
    tokio::pin!(token_expiry);

    let close_code: Option<Close> = loop {
        let wants_frames = socket.wants_frames();
        tokio::select! {
            biased;
            next = poll_fn(|cx| outbox.poll_next(cx, wants_frames)) => match next {
                Next::Close(code) => break Some(code),
                Next::Frames(frames) => {
                    metrics::counter!("ws_frames_out_total").increment(frames.len() as u64);
                    for frame in frames {
                        socket.send_text(frame.as_bytes());
                    }
                }
            },
            () = &mut token_expiry => break Some(Close::TokenExpired),
            received = socket.recv() => match received {
                Received::Text(text) => {
                    Box::pin(conn.handle_text(&text)).await;
                    let renewed = conn.renewed_exp.swap(0, Ordering::AcqRel);
                    if renewed != 0 {
                        token_expiry.as_mut().reset(expiry_deadline(renewed));
                    }
                }
                Received::Binary(_) => {
                    metrics::counter!("ws_frames_in_total", "type" => "binary").increment(1);
                    conn.reply(&error_frame(&Value::Null, ErrorCode::BadFrame.as_str(), "binary frames are not supported: send JSON text"));
                }
                Received::WantsFrames => {}
                Received::Ended(Ending::ByPeer) => break None,
                Received::Ended(Ending::Fail(code)) => break Some(code),
            },
        }
    };
    if let Some(code) = close_code {
        if code == Close::GoingAway {
            // flush what was queued before saying goodbye
            for frame in outbox.take_all() {
                socket.send_text(frame.as_bytes());
            }
        }
        // bounded in time: a client that does not read may never take the close frame
        Box::pin(socket.close(code)).await;
    }
    // after the goodbye, so a shutdown does not stop the server before it is written
    Box::pin(chat.disconnected(user_id, conn_id)).await;
}
