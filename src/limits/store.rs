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

    /// Refuses when `key` has `max` failures, else counts one now (see [`Windows::claim`]).
    pub async fn claim_failure(&self, key: &str, max: usize) -> Result<Claim, u64> {
        let shared = self.on_redis(|r| r.claim_failure(key, FAILED_LOGIN_WINDOW, max));
        match shared.await {
            Some(claimed) => claimed.map(Claim::Shared),
            None => self
                .windows
                .claim(key, max, Instant::now())
                .map(Claim::Memory),
        }
    }

    /// Gives back a claimed failure: the attempt was none (a login that succeeded).
    pub async fn release_failure(&self, key: &str, claim: &Claim) {
        match claim {
            Claim::Shared(member) => {
                let _ = self.on_redis(|r| r.release_failure(key, member)).await;
            }
            Claim::Memory(id) => self.windows.release(key, *id),
        }
    }
}

/// One failure counted ahead of the password check, where it was counted.
#[derive(Debug)]
pub(super) enum Claim {
    Shared(String),
    Memory(u64),
}
