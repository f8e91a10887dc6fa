//! Which address a request comes from, for the limits that count per client.

use std::net::IpAddr;

use actix_web::HttpRequest;

/// A hop as proxies write it: a bare address, or with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// The peer's address, or behind a trusted proxy the rightmost X-Forwarded-For hop: the one
/// that proxy appended itself (every hop left of it is whatever the client sent).
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
    fn behind_a_proxy_the_rightmost_hop_counts() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 203.0.113.7:443"))
            .to_http_request();
        assert_eq!(client_addr(&req, true), "203.0.113.7".parse().ok());
        assert_eq!(client_addr(&req, false), "10.0.0.1".parse().ok());
    }
}
