//! Abuse limits of the contract: failed logins per user name, auth requests per client address,
//! a token bucket per user for messages and typing, and one for large reads (history, sync,
//! message pages). Kept in Redis when several nodes share
//! it (so the limits hold across nodes), else in memory; a node that cannot reach Redis falls
//! back to its own memory rather than to no limit at all.

use crate::domain::ids::UserId;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::relay::RedisRelay;

/// Failed logins for one name from one client address before that address is refused.
const FAILED_LOGIN_MAX: usize = 10;
/// Failed logins for one name from all addresses together before everyone is refused.
const FAILED_LOGIN_NAME_MAX: usize = 100;
const FAILED_LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
const AUTH_PER_MINUTE: f64 = 60.0;
const SEND_RATE_PER_SEC: f64 = 30.0;
const SEND_BURST: f64 = 60.0;
/// Creating threads and adding members: 20 a minute per user.
const THREADS_PER_MINUTE: f64 = 20.0;
/// Large reads (history, sync, message pages): each reply can be megabytes.
const READ_RATE_PER_SEC: f64 = 10.0;
const READ_BURST: f64 = 20.0;
/// Past this many tracked keys, stale entries are swept before adding another.
const SWEEP_AT: usize = 10_000;
const SHARDS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// Takes one token; on refusal, the whole seconds until one is available.
    fn take(&mut self, now: Instant, rate: f64, capacity: f64) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(capacity);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / rate).ceil().max(1.0) as u64)
        }
    }

    fn is_full_at(&self, now: Instant, rate: f64, capacity: f64) -> bool {
        self.tokens + now.saturating_duration_since(self.updated).as_secs_f64() * rate >= capacity
    }
}

fn take_from<K: std::hash::Hash + Eq>(
    map: &Mutex<HashMap<K, Bucket>>,
    key: K,
    rate: f64,
    capacity: f64,
) -> Result<(), u64> {
    let now = Instant::now();
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= SWEEP_AT {
        map.retain(|_, b| !b.is_full_at(now, rate, capacity));
    }
    map.entry(key)
        .or_insert(Bucket {
            tokens: capacity,
            updated: now,
        })
        .take(now, rate, capacity)
}

/// The address a limit counts by: IPv4 as it is, IPv6 as its /64 network (one customer gets a
/// whole /64 and can pick any address in it); an IPv4-mapped IPv6 address is its IPv4 address.
pub fn limit_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The key of one name's failures from all addresses. The prefixes keep the two kinds of key
/// apart whatever a client sends as a name.
fn name_key(name: &str) -> String {
    format!("n:{name}")
}

/// The key of one name's failures from one client address (its limit key; no IP address
/// contains a space).
fn addr_key(name: &str, addr: IpAddr) -> String {
    format!("a:{} {name}", limit_key(addr))
}

pub struct Limits {
    enabled: bool,
    shared: Option<std::sync::Arc<RedisRelay>>,
    auth_by_addr: Mutex<HashMap<IpAddr, Bucket>>,
    failed_logins: Mutex<HashMap<String, Vec<Instant>>>,
    sends: Vec<Mutex<HashMap<UserId, Bucket>>>,
    thread_changes: Vec<Mutex<HashMap<UserId, Bucket>>>,
    reads: Vec<Mutex<HashMap<UserId, Bucket>>>,
}

impl Limits {
    pub fn new(enabled: bool, shared: Option<std::sync::Arc<RedisRelay>>) -> Limits {
        Limits {
            enabled,
            shared,
            auth_by_addr: Mutex::new(HashMap::new()),
            failed_logins: Mutex::new(HashMap::new()),
            sends: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            thread_changes: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            reads: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// POST /auth/register and /auth/login share 60 a minute per client address.
    pub async fn check_auth_request(&self, client: Option<IpAddr>) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        let Some(addr) = client.map(limit_key) else {
            return Ok(());
        };
        let (rate, capacity) = (AUTH_PER_MINUTE / 60.0, AUTH_PER_MINUTE);
        if let Some(shared) = &self.shared {
            match shared
                .take_token(&format!("auth:{addr}"), rate, capacity)
                .await
            {
                Ok(taken) => return taken,
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits: redis unavailable, limiting per node")
                }
            }
        }
        take_from(&self.auth_by_addr, addr, rate, capacity)
    }

    /// Refuses a login for `name` once it failed 10 times from this client address, or 100
    /// times from all addresses together, within 15 minutes. Per address, so that a stranger
    /// cannot lock an owner out; the per-name ceiling still stops a guesser spread over many
    /// addresses. Checked before any password is hashed; a refusal records nothing.
    pub async fn check_failed_logins(&self, name: &str, addr: Option<IpAddr>) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        let mut keys = vec![(name_key(name), FAILED_LOGIN_NAME_MAX)];
        if let Some(addr) = addr {
            keys.push((addr_key(name, addr), FAILED_LOGIN_MAX));
        }
        for (key, max) in keys {
            if let Err(wait) = self.failures_over(&key, max).await {
                return Err((wait).max(1));
            }
        }
        Ok(())
    }

    /// `Err(seconds to wait)` when `key` has `max` failures or more in the window.
    async fn failures_over(&self, key: &str, max: usize) -> Result<(), u64> {
        if let Some(shared) = &self.shared {
            match shared.login_failures(key, FAILED_LOGIN_WINDOW, false).await {
                Ok((count, wait)) if count as usize >= max => return Err(wait.max(1)),
                Ok(_) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits: redis unavailable, limiting per node")
                }
            }
        }
        let now = Instant::now();
        let mut map = self.failed_logins.lock().unwrap_or_else(|p| p.into_inner());
        let Some(failures) = map.get_mut(key) else {
            return Ok(());
        };
        failures.retain(|t| now.saturating_duration_since(*t) < FAILED_LOGIN_WINDOW);
        if failures.len() >= max {
            // the refusal lasts until enough of the oldest failures leave the window
            let freeing = failures.get(failures.len() - max).copied().unwrap_or(now);
            let wait = FAILED_LOGIN_WINDOW.saturating_sub(now.saturating_duration_since(freeing));
            return Err((wait.as_secs_f64().ceil() as u64).max(1));
        }
        Ok(())
    }

    /// Counts one failed login for `name` from `addr` (both counts).
    pub async fn record_failed_login(&self, name: &str, addr: Option<IpAddr>) {
        if !self.enabled {
            return;
        }
        let mut keys = vec![(name_key(name), FAILED_LOGIN_NAME_MAX)];
        if let Some(addr) = addr {
            keys.push((addr_key(name, addr), FAILED_LOGIN_MAX));
        }
        for (key, max) in keys {
            self.record_failure(&key, max).await;
        }
    }

    async fn record_failure(&self, key: &str, max: usize) {
        if let Some(shared) = &self.shared {
            match shared.login_failures(key, FAILED_LOGIN_WINDOW, true).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits: redis unavailable, limiting per node")
                }
            }
        }
        let now = Instant::now();
        let mut map = self.failed_logins.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, v| {
                v.iter()
                    .any(|t| now.saturating_duration_since(*t) < FAILED_LOGIN_WINDOW)
            });
        }
        let failures = map.entry(key.to_owned()).or_default();
        failures.push(now);
        // only the newest ones can still count
        if failures.len() > max {
            failures.remove(0);
        }
    }

    /// One bucket per user for WebSocket `send` and `typing` and HTTP message posts.
    /// On refusal: the whole seconds to wait.
    pub async fn check_send(&self, user_id: UserId) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            match shared
                .take_token(&format!("send:{user_id}"), SEND_RATE_PER_SEC, SEND_BURST)
                .await
            {
                Ok(taken) => return taken,
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits: redis unavailable, limiting per node")
                }
            }
        }
        let shard = &self.sends[(user_id.0.unsigned_abs() as usize) % SHARDS];
        take_from(shard, user_id, SEND_RATE_PER_SEC, SEND_BURST)
    }

    /// One budget per user for creating threads and adding members (each gives other users
    /// a row and a `thread` frame). On refusal: the whole seconds to wait.
    pub async fn check_thread_change(&self, user_id: UserId) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        let (rate, capacity) = (THREADS_PER_MINUTE / 60.0, THREADS_PER_MINUTE);
        if let Some(shared) = &self.shared {
            match shared
                .take_token(&format!("threads:{user_id}"), rate, capacity)
                .await
            {
                Ok(taken) => return taken,
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits: redis unavailable, limiting per node")
                }
            }
        }
        let shard = &self.thread_changes[(user_id.0.unsigned_abs() as usize) % SHARDS];
        take_from(shard, user_id, rate, capacity)
    }

    /// One bucket per user for the large reads: WebSocket `history` and `sync`, and pages of
    /// `GET /threads/{id}/messages`. On refusal: the whole seconds to wait.
    pub async fn check_read(&self, user_id: UserId) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            match shared
                .take_token(&format!("read:{user_id}"), READ_RATE_PER_SEC, READ_BURST)
                .await
            {
                Ok(taken) => return taken,
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits: redis unavailable, limiting per node")
                }
            }
        }
        let shard = &self.reads[(user_id.0.unsigned_abs() as usize) % SHARDS];
        take_from(shard, user_id, READ_RATE_PER_SEC, READ_BURST)
    }
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

    #[tokio::test]
    async fn ten_failures_from_one_address_refuse_that_address_only() {
        let limits = Limits::new(true, None);
        let (a, b) = (Some(ip("203.0.113.1")), Some(ip("203.0.113.2")));
        for _ in 0..10 {
            assert!(limits.check_failed_logins("bob", a).await.is_ok());
            limits.record_failed_login("bob", a).await;
        }
        let refused = limits.check_failed_logins("bob", a).await.unwrap_err();
        assert!((1..=900).contains(&refused), "retry after {refused}s");
        assert!(limits.check_failed_logins("bob", b).await.is_ok());
        assert!(limits.check_failed_logins("bob", None).await.is_ok());
        for i in 0..90u8 {
            limits
                .record_failed_login("bob", Some(IpAddr::from([10, 0, 0, i])))
                .await;
        }
        assert!(limits.check_failed_logins("bob", b).await.is_err());
        assert!(limits.check_failed_logins("bob", None).await.is_err());
        assert!(limits.check_failed_logins("carol", b).await.is_ok());
    }
}
