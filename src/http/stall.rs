//! 408 for a request body that stalls. actix-http times out only the request head
//! (`client_request_timeout`); a body trickled a byte now and then would hold its connection
//! and handler forever. Each request's payload is wrapped in [`StallGuard`]; when it fires, the
//! handler sees a read error, and [`answer`] replaces whatever the handler made of it with the
//! contract's 408 `TIMEOUT` and closes the connection.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::{HttpMessage, ResponseError};
use bytes::Bytes;
use futures_util::Stream;

use crate::http::error::ApiError;

/// A request payload that fails once no byte has arrived for `limit` while it is being read.
pub struct StallGuard {
    inner: Payload,
    limit: Duration,
    /// Armed while the reader waits for the next chunk; time spent by the handler elsewhere
    /// (bytes meanwhile wait in actix's buffer) does not count against the client.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    stalled: Rc<Cell<bool>>,
}

impl Stream for StallGuard {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.stalled.get() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(item) => {
                this.timer = None;
                Poll::Ready(item)
            }
            Poll::Pending => {
                let limit = this.limit;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.stalled.set(true);
                        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "request body stalled",
                        )))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

/// Wraps the request's payload; the flag it returns says, after the handler, whether it stalled.
pub fn guard(req: &mut ServiceRequest, limit: Duration) -> Rc<Cell<bool>> {
    let stalled = Rc::new(Cell::new(false));
    let inner = req.take_payload();
    let guarded = StallGuard {
        inner,
        limit,
        timer: None,
        stalled: stalled.clone(),
    };
    req.set_payload(Payload::from(
        Box::pin(guarded) as actix_http::BoxedPayloadStream
    ));
    stalled
}

/// The handler's response, or the 408 `TIMEOUT` (connection closed) when its body stalled.
pub fn answer<B>(response: ServiceResponse<B>, stalled: bool) -> ServiceResponse<EitherBody<B>> {
    if !stalled {
        return response.map_into_left_body();
    }
    let (req, _) = response.into_parts();
    let mut timeout = ApiError::timeout().error_response();
    timeout
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    ServiceResponse::new(req, timeout).map_into_right_body()
}
