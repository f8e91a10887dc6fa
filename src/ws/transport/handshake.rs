//! The opening handshake on an upgraded HTTP/1 connection: 101 and the socket, or an HTTP
//! error and a closed connection.

use std::io;

use actix_codec::Encoder;
use actix_http::body::{BodySize, BoxBody};
use actix_http::ws;
use actix_http::{h1, Request, Response, StatusCode};
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{IntoTcp, Limits, Upgraded, WsSocket, CLOSE_WAIT};

/// Checks that `req` is a WebSocket handshake this layer can accept.
pub fn verify(req: &Request) -> Result<(), ws::HandshakeError> {
    ws::verify_handshake(req.head())
}

/// The one subprotocol this server speaks, offered by browsers that pass their token as a
/// second subprotocol (see `http::extract`), since they cannot set an Authorization header.
pub const SUBPROTOCOL: &str = "chat";

fn offers_subprotocol(req: &Request) -> bool {
    req.head()
        .headers()
        .get_all(actix_http::header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL)
}

/// Answers a verified handshake with 101 and returns the socket.
pub async fn accept<T: IntoTcp>(
    req: &Request,
    upgraded: Upgraded<T>,
    limits: Limits,
) -> io::Result<WsSocket> {
    let parts = upgraded.into_parts();
    let (mut io, mut codec) = (parts.io.into_tcp(), parts.codec);
    let mut builder = ws::handshake_response(req.head());
    if offers_subprotocol(req) {
        // a browser that offered subprotocols fails the connection unless the 101 names one
        builder.insert_header((actix_http::header::SEC_WEBSOCKET_PROTOCOL, SUBPROTOCOL));
    }
    let response = builder.finish().map_into_boxed_body();
    write_response(&mut io, &mut codec, response).await?;
    // bytes the client sent right behind its handshake are its first frames
    Ok(WsSocket::new(io, parts.read_buf, limits))
}

/// Answers an upgrade request with an HTTP error instead, then closes the connection.
pub async fn refuse<T: IntoTcp>(upgraded: Upgraded<T>, mut response: Response<BoxBody>) {
    let parts = upgraded.into_parts();
    let (mut io, mut codec) = (parts.io.into_tcp(), parts.codec);
    response
        .head_mut()
        .set_connection_type(actix_http::ConnectionType::Close);
    if write_response(&mut io, &mut codec, response).await.is_ok() {
        let _ = io.shutdown().await;
    }
}

async fn write_response(
    io: &mut TcpStream,
    codec: &mut h1::Codec,
    response: Response<BoxBody>,
) -> io::Result<()> {
    let (head, body) = response.into_parts();
    let body = actix_http::body::to_bytes(body)
        .await
        .map_err(|e| io::Error::other(e.to_string()))?;
    let size = if head.status() == StatusCode::SWITCHING_PROTOCOLS {
        BodySize::None
    } else {
        BodySize::Sized(body.len() as u64)
    };
    let mut buf = BytesMut::new();
    codec.encode(h1::Message::Item((head, size)), &mut buf)?;
    buf.extend_from_slice(&body);
    timeout(CLOSE_WAIT, io.write_all(&buf))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}
