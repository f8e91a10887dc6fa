//! The client address the limits count by.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;

/// The peer's address, or behind a trusted proxy (`TRUST_PROXY`) the rightmost
/// X-Forwarded-For hop of the last such header: the one that proxy appended itself (every hop
/// left of it is whatever the client sent). A hop that is no address falls back to the peer.
pub fn client_addr(req: &HttpRequest, trust_proxy: bool) -> Option<IpAddr> {
    if trust_proxy {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .last()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|hop| parse_hop(hop.trim()));
        if forwarded.is_some() {
            return forwarded;
        }
    }
    req.peer_addr().map(|a| a.ip())
}

/// A hop as proxies write it: a bare address, or with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hops_parse_with_or_without_a_port() {
        assert_eq!(parse_hop("203.0.113.8"), Some(ip("203.0.113.8")));
        assert_eq!(parse_hop("203.0.113.8:4711"), Some(ip("203.0.113.8")));
        assert_eq!(parse_hop("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("unknown"), None);
        assert_eq!(parse_hop(""), None);
    }

    #[test]
    fn the_rightmost_hop_of_the_last_header_counts_only_behind_a_trusted_proxy() {
        let req = TestRequest::default()
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .append_header(("X-Forwarded-For", "198.51.100.1, 198.51.100.2"))
            .append_header(("X-Forwarded-For", "203.0.113.7, 203.0.113.8:4711"))
            .to_http_request();
        assert_eq!(client_addr(&req, true), Some(ip("203.0.113.8")));
        assert_eq!(client_addr(&req, false), Some(ip("192.0.2.1")));
        let unknown = TestRequest::default()
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .append_header(("X-Forwarded-For", "203.0.113.7, unknown"))
            .to_http_request();
        assert_eq!(client_addr(&unknown, true), Some(ip("192.0.2.1")));
    }
}
