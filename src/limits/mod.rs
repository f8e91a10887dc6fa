//! Abuse limits of the contract: failed logins per user name, auth requests per client address,
//! a token bucket per user for messages and typing, one for large reads (history, sync,
//! message pages) and one for thread changes.
//!
//! `bucket.rs` and `failures.rs` are the arithmetic, in memory; `redis.rs` the same shared by
//! every node; `store.rs` picks one for each check (Redis when configured, memory when it is
//! not or fails). This file names the buckets and their rates. Callers pass the client
//! address (`http::client_addr`); refusals are plain seconds, the faces make them 429s.

mod bucket;
mod failures;
mod keys;
mod redis;
mod store;

use std::net::IpAddr;

use crate::domain::ids::UserId;

use bucket::Rule;
pub use keys::limit_key;
use keys::{addr_key, name_key};
use store::Store;

/// Failed logins for one name from one client address before that address is refused.
const FAILED_LOGIN_MAX: usize = 10;
/// Failed logins for one name from all addresses together before everyone is refused.
const FAILED_LOGIN_NAME_MAX: usize = 100;
/// Register and login: 60 a minute per client address.
const AUTH: Rule = Rule::per_minute("auth", 60.0);
/// Messages, typing, edits, deletes, reactions: 30 a second, bursts of 60, per user.
const SEND: Rule = Rule::per_second("send", 30.0, 60.0);
/// Creating threads and adding members: 20 a minute per user.
const THREADS: Rule = Rule::per_minute("threads", 20.0);
/// Large reads (history, sync, message pages): each reply can be megabytes.
const READ: Rule = Rule::per_second("read", 10.0, 20.0);

/// A refusal: the whole seconds (at least 1) before trying again is worth it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited; retry after {0} s")]
pub struct RetryAfter(pub u64);

pub struct Limits {
    /// `RATE_LIMITS`: off lifts every limit here.
    enabled: bool,
    store: Store,
}

impl Limits {
    /// With `redis_url` (`REDIS_URL`), the limits are shared by every node using the same
    /// `prefix` (`REDIS_PREFIX`). Fails only on a malformed URL: Redis is reached on first use.
    pub fn new(
        enabled: bool,
        redis_url: Option<&str>,
        prefix: &str,
    ) -> Result<Limits, ::redis::RedisError> {
        let shared = match redis_url {
            Some(url) => Some(redis::SharedLimits::new(url, prefix)?),
            None => None,
        };
        Ok(Limits {
            enabled,
            store: Store::new(shared),
        })
    }

    /// One token of `rule` for `subject`, when limits are on.
    async fn take(&self, rule: Rule, subject: impl std::fmt::Display) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        self.store.take(rule, subject).await
    }

    /// POST /auth/register and /auth/login share 60 a minute per client address (IPv6: per
    /// /64); a request with no address is not limited.
    pub async fn check_auth_request(&self, addr: Option<IpAddr>) -> Result<(), RetryAfter> {
        let Some(addr) = addr else { return Ok(()) };
        self.take(AUTH, limit_key(addr)).await.map_err(RetryAfter)
    }

    /// The failure counts a login for `name` from `addr` is judged by: per name and address
    /// (10), per name from everywhere (100).
    fn failure_keys(name: &str, addr: Option<IpAddr>) -> Vec<(String, usize)> {
        let mut keys = vec![(name_key(name), FAILED_LOGIN_NAME_MAX)];
        if let Some(addr) = addr {
            keys.push((addr_key(name, addr), FAILED_LOGIN_MAX));
        }
        keys
    }

    /// Refuses a login for `name` once it failed 10 times from this client address, or 100
    /// times from all addresses together, within 15 minutes. Per address, so that a stranger
    /// cannot lock an owner out; the per-name ceiling still stops a guesser spread over many
    /// addresses. Checked before any password is hashed; a refusal records nothing.
    pub async fn check_failed_logins(
        &self,
        name: &str,
        addr: Option<IpAddr>,
    ) -> Result<(), RetryAfter> {
        if !self.enabled {
            return Ok(());
        }
        for (key, max) in Self::failure_keys(name, addr) {
            self.store
                .failures_over(&key, max)
                .await
                .map_err(RetryAfter)?;
        }
        Ok(())
    }

    /// Counts one failed login for `name` from `addr` (both counts).
    pub async fn record_failed_login(&self, name: &str, addr: Option<IpAddr>) {
        if !self.enabled {
            return;
        }
        for (key, max) in Self::failure_keys(name, addr) {
            self.store.record_failure(&key, max).await;
        }
    }

    /// One bucket per user for WebSocket `send` and `typing` and HTTP message posts.
    /// On refusal: the whole seconds to wait.
    pub async fn check_send(&self, user_id: UserId) -> Result<(), u64> {
        self.take(SEND, user_id).await
    }

    /// One budget per user for creating threads and adding members (each gives other users
    /// a row and a `thread` frame). On refusal: the whole seconds to wait.
    pub async fn check_thread_change(&self, user_id: UserId) -> Result<(), u64> {
        self.take(THREADS, user_id).await
    }

    /// One bucket per user for the large reads: WebSocket `history` and `sync`, and pages of
    /// `GET /threads/{id}/messages`. On refusal: the whole seconds to wait.
    pub async fn check_read(&self, user_id: UserId) -> Result<(), u64> {
        self.take(READ, user_id).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn memory(enabled: bool) -> Limits {
        Limits::new(enabled, None, "").unwrap()
    }

    #[tokio::test]
    async fn ten_failures_from_one_address_refuse_that_address_only() {
        let limits = memory(true);
        let (a, b) = (Some(ip("203.0.113.1")), Some(ip("203.0.113.2")));
        for _ in 0..10 {
            assert!(limits.check_failed_logins("bob", a).await.is_ok());
            limits.record_failed_login("bob", a).await;
        }
        let RetryAfter(secs) = limits.check_failed_logins("bob", a).await.unwrap_err();
        assert!((1..=900).contains(&secs), "{secs}");
        assert!(limits.check_failed_logins("bob", b).await.is_ok());
        assert!(limits.check_failed_logins("bob", None).await.is_ok());
        // 89 more from elsewhere: 99 for the name, still under its ceiling
        for i in 0..89u8 {
            limits
                .record_failed_login("bob", Some(IpAddr::from([10, 0, 0, i])))
                .await;
        }
        assert!(limits.check_failed_logins("bob", b).await.is_ok());
        limits.record_failed_login("bob", None).await;
        // 100 for the name from everywhere: every address, and none, is refused
        assert!(limits.check_failed_logins("bob", b).await.is_err());
        assert!(limits.check_failed_logins("bob", None).await.is_err());
        assert!(limits.check_failed_logins("carol", b).await.is_ok());
    }

    #[tokio::test]
    async fn an_ipv6_address_counts_as_its_64() {
        let limits = memory(true);
        for i in 0..10u16 {
            let addr = IpAddr::from([0x2001, 0xdb8, 1, 2, i, 0, 0, 1]);
            limits.record_failed_login("bob", Some(addr)).await;
        }
        let next = Some(ip("2001:db8:1:2:ffff::9"));
        assert!(limits.check_failed_logins("bob", next).await.is_err());
        let other = Some(ip("2001:db8:1:3::1"));
        assert!(limits.check_failed_logins("bob", other).await.is_ok());
        for _ in 0..60 {
            assert!(limits.check_auth_request(next).await.is_ok());
        }
        let RetryAfter(secs) = limits.check_auth_request(next).await.unwrap_err();
        assert_eq!(secs, 1);
        assert!(limits.check_auth_request(other).await.is_ok());
        assert!(limits.check_auth_request(None).await.is_ok());
    }

    #[tokio::test]
    async fn each_user_bucket_has_its_burst() {
        let limits = memory(true);
        let (alice, bob) = (UserId(1), UserId(2));
        for _ in 0..20 {
            assert!(limits.check_read(alice).await.is_ok());
            assert!(limits.check_thread_change(alice).await.is_ok());
        }
        assert!(limits.check_read(alice).await.is_err());
        assert_eq!(limits.check_thread_change(alice).await, Err(3));
        assert!(limits.check_read(bob).await.is_ok());
        // a separate bucket: reads and thread changes took nothing from sends
        for _ in 0..60 {
            assert!(limits.check_send(alice).await.is_ok());
        }
        assert!(limits.check_send(alice).await.is_err());
    }

    #[tokio::test]
    async fn rate_limits_off_lifts_every_limit() {
        let limits = memory(false);
        let addr = Some(ip("203.0.113.1"));
        for _ in 0..200 {
            limits.record_failed_login("bob", addr).await;
            assert!(limits.check_failed_logins("bob", addr).await.is_ok());
            assert!(limits.check_auth_request(addr).await.is_ok());
            assert!(limits.check_send(UserId(1)).await.is_ok());
            assert!(limits.check_read(UserId(1)).await.is_ok());
            assert!(limits.check_thread_change(UserId(1)).await.is_ok());
        }
    }
}
