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

use actix_web::HttpRequest;

use crate::error::ApiError;
use crate::relay::RedisRelay;

const FAILED_LOGIN_MAX: usize = 10;
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

pub struct Limits {
    enabled: bool,
    trust_proxy: bool,
    shared: Option<std::sync::Arc<RedisRelay>>,
    auth_by_addr: Mutex<HashMap<IpAddr, Bucket>>,
    failed_logins: Mutex<HashMap<String, Vec<Instant>>>,
    sends: Vec<Mutex<HashMap<UserId, Bucket>>>,
    thread_changes: Vec<Mutex<HashMap<UserId, Bucket>>>,
    reads: Vec<Mutex<HashMap<UserId, Bucket>>>,
}

impl Limits {
    pub fn new(
        enabled: bool,
        trust_proxy: bool,
        shared: Option<std::sync::Arc<RedisRelay>>,
    ) -> Limits {
        Limits {
            enabled,
            trust_proxy,
            shared,
            auth_by_addr: Mutex::new(HashMap::new()),
            failed_logins: Mutex::new(HashMap::new()),
            sends: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            thread_changes: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            reads: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// The peer's address, or the leftmost X-Forwarded-For hop behind a trusted proxy.
    pub fn client_addr(&self, req: &HttpRequest) -> Option<IpAddr> {
        if self.trust_proxy {
            let forwarded = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|hop| hop.trim().parse().ok());
            if forwarded.is_some() {
                return forwarded;
            }
        }
        req.peer_addr().map(|a| a.ip())
    }

    /// POST /auth/register and /auth/login share 60 a minute per client address.
    pub async fn check_auth_request(&self, req: &HttpRequest) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        let Some(addr) = self.client_addr(req) else {
            return Ok(());
        };
        let (rate, capacity) = (AUTH_PER_MINUTE / 60.0, AUTH_PER_MINUTE);
        if let Some(shared) = &self.shared {
            match shared
                .take_token(&format!("auth:{addr}"), rate, capacity)
                .await
            {
                Ok(taken) => return taken.map_err(ApiError::rate_limited),
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits: redis unavailable, limiting per node")
                }
            }
        }
        take_from(&self.auth_by_addr, addr, rate, capacity).map_err(ApiError::rate_limited)
    }

    /// After 10 failures within 15 minutes, a user name is refused until the window passes.
    pub async fn check_failed_logins(&self, key: &str) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            match shared.login_failures(key, FAILED_LOGIN_WINDOW, false).await {
                Ok((count, wait)) if count as usize >= FAILED_LOGIN_MAX => {
                    return Err(ApiError::rate_limited(wait))
                }
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
        if failures.len() >= FAILED_LOGIN_MAX {
            let oldest = failures.iter().min().copied().unwrap_or(now);
            let wait = FAILED_LOGIN_WINDOW.saturating_sub(now.saturating_duration_since(oldest));
            return Err(ApiError::rate_limited(wait.as_secs_f64().ceil() as u64));
        }
        Ok(())
    }

    pub async fn record_failed_login(&self, key: &str) {
        if !self.enabled {
            return;
        }
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
        if failures.len() > FAILED_LOGIN_MAX {
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
