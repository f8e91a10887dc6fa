//! Where the limits live: in Redis when nodes share one (so that they hold across nodes), else
//! in this node's memory. A node that cannot reach Redis falls back to its own memory rather
//! than to no limit at all.

use std::future::Future;
use std::time::Instant;

use super::bucket::{Buckets, Rule};
use super::failures::{Windows, FAILED_LOGIN_WINDOW};
use super::redis::{SharedError, SharedLimits};

pub(super) struct Store {
    shared: Option<SharedLimits>,
    buckets: Buckets,
    windows: Windows,
}

impl Store {
    pub fn new(shared: Option<SharedLimits>) -> Store {
        Store {
            shared,
            buckets: Buckets::new(),
            windows: Windows::default(),
        }
    }

    /// What Redis answered, or `None` (memory's turn) without Redis or when it failed.
    async fn on_redis<'a, T, F>(&'a self, op: impl FnOnce(&'a SharedLimits) -> F) -> Option<T>
    where
        F: Future<Output = Result<T, SharedError>> + 'a,
    {
        match op(self.shared.as_ref()?).await {
            Ok(answer) => Some(answer),
            Err(e) => {
                tracing::warn!(error = %e, "rate limits: redis unavailable, limiting per node");
                None
            }
        }
    }

    /// One token from `subject`'s bucket of `rule`; on refusal, the whole seconds to wait.
    pub async fn take(&self, rule: Rule, subject: impl std::fmt::Display) -> Result<(), u64> {
        let key = rule.key(subject);
        if let Some(taken) = self.on_redis(|r| r.take_token(rule, &key)).await {
            return taken;
        }
        self.buckets.take(rule, key, Instant::now())
    }

    /// `Err(seconds to wait)` when `key` has `max` failed logins or more in the window.
    pub async fn failures_over(&self, key: &str, max: usize) -> Result<(), u64> {
        let shared = self.on_redis(|r| r.login_failures(key, FAILED_LOGIN_WINDOW, false, max));
        match shared.await {
            Some((count, wait)) if count as usize >= max => Err(wait.max(1)),
            Some(_) => Ok(()),
            None => self.windows.over(key, max, Instant::now()),
        }
    }

    /// Counts one failed login of `key` (`max`: how many can count at most).
    pub async fn record_failure(&self, key: &str, max: usize) {
        let shared = self.on_redis(|r| r.login_failures(key, FAILED_LOGIN_WINDOW, true, max));
        if shared.await.is_none() {
            self.windows.record(key, max, Instant::now());
        }
    }
}
