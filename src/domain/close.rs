//! Every WebSocket close the server sends, with its code and text, defined once for the
//! connection layer (protocol violations, stalls) and the chat layer (shutdown, expiry).

/// Why the server closes a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// 1000: the peer sent nothing, not even a pong, for `WS_IDLE_SECS`.
    IdleTimeout,
    /// 1001: the server is shutting down.
    GoingAway,
    /// 1002: a frame broke RFC 6455.
    Protocol,
    /// 1007: a text message that is not UTF-8.
    InvalidData,
    /// 1009: a frame or message over `MAX_FRAME_BYTES`.
    TooBig,
    /// 1013: the client cannot keep up (queue over its bounds, or output stalled).
    SlowConsumer,
    /// 4001: the access token passed its `exp`.
    TokenExpired,
    /// 4003: the connection's session was ended (logout, revoked, password changed, reuse).
    SessionEnded,
}

impl Close {
    /// Every close, for documents that list them (the test below keeps it whole).
    pub const ALL: [Close; 8] = [
        Close::IdleTimeout,
        Close::GoingAway,
        Close::Protocol,
        Close::InvalidData,
        Close::TooBig,
        Close::SlowConsumer,
        Close::TokenExpired,
        Close::SessionEnded,
    ];

    pub const fn code(self) -> u16 {
        match self {
            Close::IdleTimeout => 1000,
            Close::GoingAway => 1001,
            Close::Protocol => 1002,
            Close::InvalidData => 1007,
            Close::TooBig => 1009,
            Close::SlowConsumer => 1013,
            Close::TokenExpired => 4001,
            Close::SessionEnded => 4003,
        }
    }

    pub const fn text(self) -> &'static str {
        match self {
            Close::IdleTimeout => "idle timeout",
            Close::GoingAway => "server shutting down",
            Close::Protocol => "protocol error",
            Close::InvalidData => "invalid UTF-8",
            Close::TooBig => "frame too large",
            Close::SlowConsumer => "slow consumer: reconnect and sync",
            Close::TokenExpired => "token expired",
            Close::SessionEnded => "session ended",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Close;

    #[test]
    fn codes_are_distinct_and_texts_fit_a_close_frame() {
        let all = Close::ALL;
        for (i, a) in all.iter().enumerate() {
            // a close frame's payload is at most 125 bytes, 2 of them the code
            assert!(a.text().len() <= 123);
            assert!(all[i + 1..].iter().all(|b| b.code() != a.code()));
            // a new variant stops this match compiling: add it to ALL as well
            match a {
                Close::IdleTimeout
                | Close::GoingAway
                | Close::Protocol
                | Close::InvalidData
                | Close::TooBig
                | Close::SlowConsumer
                | Close::TokenExpired
                | Close::SessionEnded => {}
            }
        }
    }
}
