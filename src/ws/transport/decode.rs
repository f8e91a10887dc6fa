//! Frames to messages: control frames handled on the way, continuations joined under the size
//! limit, text checked for UTF-8, and the close code of each violation.

use actix_codec::Decoder;
use actix_http::ws::{Frame, Item, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use super::{Close, Received, WsSocket};

/// A message arriving in continuation frames.
pub(super) struct Partial {
    text: bool,
    data: BytesMut,
}

impl WsSocket {
    /// The next complete data message already read, handling control frames on the way.
    pub(super) fn next_buffered(&mut self) -> Result<Option<Received>, Close> {
        loop {
            if self.read_buf.is_empty() {
                self.read_buf = BytesMut::new();
                return Ok(None);
            }
            let frame = match self.codec.decode(&mut self.read_buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(None),
                Err(err) => return Err(violation_code(&err)),
            };
            match frame {
                Frame::Text(bytes) => return text(bytes).map(Some),
                Frame::Binary(bytes) => return Ok(Some(Received::Binary(bytes))),
                Frame::Continuation(item) => {
                    if let Some(message) = self.continuation(item)? {
                        return Ok(Some(message));
                    }
                }
                Frame::Ping(bytes) => {
                    self.pending_pong = Some(bytes);
                    self.stage_pong();
                }
                Frame::Pong(_) => {}
                Frame::Close(reason) => {
                    // echo the peer's code, as RFC 6455 asks; the codec has validated it
                    self.queue_close(reason);
                    self.peer_closed = true;
                    return Ok(None);
                }
            }
        }
    }

    fn continuation(&mut self, item: Item) -> Result<Option<Received>, Close> {
        let (first, bytes, last) = match item {
            Item::FirstText(bytes) => (Some(true), bytes, false),
            Item::FirstBinary(bytes) => (Some(false), bytes, false),
            Item::Continue(bytes) => (None, bytes, false),
            Item::Last(bytes) => (None, bytes, true),
        };
        if let Some(text) = first {
            self.partial = Some(Partial {
                text,
                data: BytesMut::new(),
            });
        }
        // the codec rejects continuations that were not started
        let Some(partial) = self.partial.as_mut() else {
            return Err(Close::Protocol);
        };
        if partial.data.len() + bytes.len() > self.limits.max_message_bytes {
            return Err(Close::TooBig);
        }
        partial.data.extend_from_slice(&bytes);
        if !last {
            return Ok(None);
        }
        let Some(Partial {
            text: is_text,
            data,
        }) = self.partial.take()
        else {
            return Err(Close::Protocol);
        };
        if is_text {
            text(data.freeze()).map(Some)
        } else {
            Ok(Some(Received::Binary(data.freeze())))
        }
    }
}

fn text(bytes: Bytes) -> Result<Received, Close> {
    ByteString::try_from(bytes)
        .map(Received::Text)
        .map_err(|_| Close::InvalidData)
}

fn violation_code(err: &ProtocolError) -> Close {
    match err {
        ProtocolError::Overflow => Close::TooBig,
        _ => Close::Protocol,
    }
}
