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

/// A login attempt admitted by [`Limits::begin_login`]: counted as a failure until
/// [`Limits::release_login`] takes it back; dropping it leaves the failure counted.
#[derive(Debug)]
pub struct LoginAttempt {
    claims: Vec<(String, store::Claim)>,
}

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

    /// Admits a login attempt for `name` from `addr`, or refuses it once the name failed 10
    /// times from this client address, or 100 times from all addresses together, within 15
    /// minutes. Per address, so that a stranger cannot lock an owner out; the per-name ceiling
    /// still stops a guesser spread over many addresses. Asked before any password is hashed;
    /// a refusal counts nothing. An admitted attempt counts as a failure from the start (so
    /// that concurrent attempts cannot all pass), and is taken back by [`Limits::release_login`].
    pub async fn begin_login(
        &self,
        name: &str,
        addr: Option<IpAddr>,
    ) -> Result<LoginAttempt, RetryAfter> {
        let mut attempt = LoginAttempt { claims: Vec::new() };
        if !self.enabled {
            return Ok(attempt);
        }
        for (key, max) in Self::failure_keys(name, addr) {
            match self.store.claim_failure(&key, max).await {
                Ok(claim) => attempt.claims.push((key, claim)),
                Err(wait) => {
                    // refused: what this attempt counted already is given back
                    self.release_login(attempt).await;
                    return Err(RetryAfter(wait));
                }
            }
        }
        Ok(attempt)
    }

    /// The attempt was no failure (it succeeded, or could not be judged): what it counted is
    /// taken back. Earlier failures stay: a successful login does not reset them, the window does.
    pub async fn release_login(&self, attempt: LoginAttempt) {
        for (key, claim) in &attempt.claims {
            self.store.release_failure(key, claim).await;
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

    /// A login attempt that fails: admitted, and left counted.
    async fn fail(limits: &Limits, name: &str, addr: Option<IpAddr>) {
        let attempt = limits.begin_login(name, addr).await;
        assert!(attempt.is_ok(), "a failure was refused instead");
    }

    /// Whether an attempt would be admitted now (taken back at once: it counts nothing).
    async fn admitted(limits: &Limits, name: &str, addr: Option<IpAddr>) -> bool {
        match limits.begin_login(name, addr).await {
            Ok(attempt) => {
                limits.release_login(attempt).await;
                true
            }
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn concurrent_attempts_cannot_pass_the_count_together() {
        let limits = memory(true);
        let a = Some(ip("203.0.113.9"));
        // twenty attempts in flight at once (none judged yet): only ten are admitted
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..20 {
            match limits.begin_login("bob", a).await {
                Ok(attempt) => held.push(attempt),
                Err(_) => refused += 1,
            }
        }
        assert_eq!((held.len(), refused), (10, 10));
        // one of them succeeds: its count is taken back, the others stay failures
        limits.release_login(held.pop().unwrap()).await;
        assert!(admitted(&limits, "bob", a).await);
        fail(&limits, "bob", a).await;
        assert!(!admitted(&limits, "bob", a).await);
    }

    #[tokio::test]
    async fn ten_failures_from_one_address_refuse_that_address_only() {
        let limits = memory(true);
        let (a, b) = (Some(ip("203.0.113.1")), Some(ip("203.0.113.2")));
        for _ in 0..10 {
            assert!(admitted(&limits, "bob", a).await);
            fail(&limits, "bob", a).await;
        }
        let RetryAfter(secs) = limits.begin_login("bob", a).await.unwrap_err();
        assert!((1..=900).contains(&secs), "{secs}");
        assert!(admitted(&limits, "bob", b).await);
        assert!(admitted(&limits, "bob", None).await);
        // 89 more from elsewhere: 99 for the name, still under its ceiling
        for i in 0..89u8 {
            fail(&limits, "bob", Some(IpAddr::from([10, 0, 0, i]))).await;
        }
        assert!(admitted(&limits, "bob", b).await);
        fail(&limits, "bob", None).await;
        // 100 for the name from everywhere: every address, and none, is refused
        assert!(!admitted(&limits, "bob", b).await);
        assert!(!admitted(&limits, "bob", None).await);
        assert!(admitted(&limits, "carol", b).await);
    }

    #[tokio::test]
    async fn an_ipv6_address_counts_as_its_64() {
        let limits = memory(true);
        for i in 0..10u16 {
            let addr = IpAddr::from([0x2001, 0xdb8, 1, 2, i, 0, 0, 1]);
            fail(&limits, "bob", Some(addr)).await;
        }
        let next = Some(ip("2001:db8:1:2:ffff::9"));
        assert!(!admitted(&limits, "bob", next).await);
        let other = Some(ip("2001:db8:1:3::1"));
        assert!(admitted(&limits, "bob", other).await);
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
            fail(&limits, "bob", addr).await;
            assert!(admitted(&limits, "bob", addr).await);
            assert!(limits.check_auth_request(addr).await.is_ok());
            assert!(limits.check_send(UserId(1)).await.is_ok());
            assert!(limits.check_read(UserId(1)).await.is_ok());
            assert!(limits.check_thread_change(UserId(1)).await.is_ok());
        }
    }
}
