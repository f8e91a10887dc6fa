//! The byte stream of one HTTP connection as actix-http sees it. actix-http answers a request
//! whose head stalls with a 408 of its own, which has no body: no handler has run yet. The
//! contract wants the JSON envelope with `TIMEOUT` there too, so that one response is swapped
//! for ours on its way out. Every other byte passes through untouched, and an upgraded
//! WebSocket takes the bare TCP stream back ([`HttpStream::into_tcp`]).

use std::io;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::error::{ApiError, ErrorCode};

/// Our 408 for a stalled head, in the envelope every other error uses.
static STALLED_HEAD_RESPONSE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = serde_json::json!({
        "success": false,
        "message": ApiError::timeout().message,
        "code": ErrorCode::Timeout,
    })
    .to_string();
    format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

pub struct HttpStream {
    tcp: TcpStream,
    /// Whether bytes went out since the client last sent any: then a write is the rest of a
    /// response (a body can hold any bytes), never the start of a timeout answer.
    wrote_since_read: bool,
    /// How much of [`STALLED_HEAD_RESPONSE`] is written, once actix-http's own 408 was seen.
    swapped: Option<usize>,
}

impl HttpStream {
    pub fn new(tcp: TcpStream) -> HttpStream {
        HttpStream {
            tcp,
            wrote_since_read: false,
            swapped: None,
        }
    }

    pub fn into_tcp(self) -> TcpStream {
        self.tcp
    }
}

/// actix-http's own 408, whole: a status line, a head saying the body is empty, and nothing
/// after the head (ours always has a body).
fn is_bare_timeout(buf: &[u8]) -> bool {
    if buf.len() > 512 || !buf.starts_with(b"HTTP/1.1 408 ") {
        return false;
    }
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    head_end + 4 == buf.len() && head.contains("\r\ncontent-length: 0")
}

impl AsyncRead for HttpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.wrote_since_read = false;
        }
        polled
    }
}

impl AsyncWrite for HttpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.swapped.is_none() && !this.wrote_since_read && is_bare_timeout(buf) {
            this.swapped = Some(0);
        }
        let Some(written) = this.swapped.as_mut() else {
            let polled = Pin::new(&mut this.tcp).poll_write(cx, buf);
            if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
                this.wrote_since_read = true;
            }
            return polled;
        };
        let ours = STALLED_HEAD_RESPONSE.as_slice();
        while *written < ours.len() {
            match Pin::new(&mut this.tcp).poll_write(cx, &ours[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                other => return other,
            }
        }
        // actix-http closes after its 408: whatever it still writes is dropped
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::is_bare_timeout;

    #[test]
    fn only_the_bodyless_408_is_swapped() {
        assert!(is_bare_timeout(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ));
        assert!(!is_bare_timeout(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 80\r\n\r\n{}"
        ));
        assert!(!is_bare_timeout(
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
        ));
        // the same bytes inside a larger write (a body that happens to hold them) are not
        assert!(!is_bare_timeout(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\nHTTP/1.1 408 x"
        ));
    }
}
