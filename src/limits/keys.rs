//! What the limits count by: client addresses and the keys of failed-login counts.

use std::net::{IpAddr, Ipv6Addr};

/// The address a limit counts by: IPv4 as it is, IPv6 as its /64 network (one customer gets a
/// whole /64 and can pick any address in it); an IPv4-mapped IPv6 address is its IPv4 address.
pub fn limit_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The key of one name's failures from all addresses. The prefixes keep the two kinds of key
/// apart whatever a client sends as a name.
pub(super) fn name_key(name: &str) -> String {
    format!("n:{name}")
}

/// The key of one name's failures from one client address (its limit key; no IP address
/// contains a space).
pub(super) fn addr_key(name: &str, addr: IpAddr) -> String {
    format!("a:{} {name}", limit_key(addr))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(limit_key(ip("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(limit_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff::1")),
            limit_key(ip("2001:db8:1:2::9"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
    }

    #[test]
    fn failure_keys_of_names_and_addresses_never_meet() {
        let addr = ip("198.51.100.7");
        assert_ne!(name_key(&addr_key("alice", addr)), addr_key("alice", addr));
        assert_ne!(name_key("alice@198.51.100.7"), addr_key("alice", addr));
    }

    #[test]
    fn an_address_key_is_per_64() {
        assert_eq!(
            addr_key("bob", ip("2001:db8:1:2::1")),
            addr_key("bob", ip("2001:db8:1:2:ffff::2"))
        );
        assert_eq!(addr_key("bob", ip("198.51.100.7")), "a:198.51.100.7 bob");
    }
}
