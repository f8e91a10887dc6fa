//! Token buckets: the rule of a named bucket, one bucket's arithmetic, and the in-memory
//! buckets of a node (used alone for one node, and as the fallback when Redis is away).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::Instant;

/// Past this many tracked keys in a shard, stale entries are swept before adding another.
pub(super) const SWEEP_AT: usize = 10_000;
const SHARDS: usize = 64;

/// A named bucket: `rate` tokens a second, holding at most `capacity` (the burst).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rule {
    /// Prefix of its keys, in Redis and in memory (`send:42`).
    pub name: &'static str,
    pub rate: f64,
    pub capacity: f64,
}

impl Rule {
    pub const fn per_second(name: &'static str, rate: f64, capacity: f64) -> Rule {
        Rule {
            name,
            rate,
            capacity,
        }
    }

    /// `n` a minute, all of them at once at most.
    pub const fn per_minute(name: &'static str, n: f64) -> Rule {
        Rule::per_second(name, n / 60.0, n)
    }

    /// The key of `subject`'s bucket of this rule.
    pub fn key(&self, subject: impl std::fmt::Display) -> String {
        format!("{}:{subject}", self.name)
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Bucket {
    rule: Rule,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// A full bucket: a client nobody has seen has its whole burst.
    pub fn full(rule: Rule, now: Instant) -> Bucket {
        Bucket {
            rule,
            tokens: rule.capacity,
            updated: now,
        }
    }

    /// Takes one token; on refusal, the whole seconds until one is available.
    pub fn take(&mut self, now: Instant) -> Result<(), u64> {
        let Rule { rate, capacity, .. } = self.rule;
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

    /// Full again: forgetting it changes nothing, so the sweep may.
    fn is_full_at(&self, now: Instant) -> bool {
        let Rule { rate, capacity, .. } = self.rule;
        self.tokens + now.saturating_duration_since(self.updated).as_secs_f64() * rate >= capacity
    }
}

/// Every bucket of this node, by key, in shards so that users do not queue on one lock.
pub(super) struct Buckets {
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
    hasher: RandomState,
}

impl Buckets {
    pub fn new() -> Buckets {
        Buckets::with_shards(SHARDS)
    }

    fn with_shards(n: usize) -> Buckets {
        Buckets {
            shards: (0..n.max(1)).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// One token from `key`'s bucket of `rule`, as of `now`.
    pub fn take(&self, rule: Rule, key: String, now: Instant) -> Result<(), u64> {
        let shard = self.hasher.hash_one(&key) as usize % self.shards.len();
        let mut map = self.shards[shard].lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, b| !b.is_full_at(now));
        }
        map.entry(key)
            .or_insert_with(|| Bucket::full(rule, now))
            .take(now)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SEND: Rule = Rule::per_second("send", 30.0, 60.0);
    const THREADS: Rule = Rule::per_minute("threads", 20.0);

    #[test]
    fn a_bucket_gives_its_burst_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::full(SEND, t0);
        for _ in 0..60 {
            assert_eq!(b.take(t0), Ok(()));
        }
        assert_eq!(b.take(t0), Err(1));
        // 30 a second: 100 ms give three tokens, not four
        let t1 = t0 + Duration::from_millis(100);
        for _ in 0..3 {
            assert_eq!(b.take(t1), Ok(()));
        }
        assert_eq!(b.take(t1), Err(1));
    }

    #[test]
    fn a_bucket_caps_at_its_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::full(SEND, t0);
        assert_eq!(b.take(t0), Ok(()));
        // an hour idle refills to 60, not to 108,000
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..60 {
            assert_eq!(b.take(later), Ok(()));
        }
        assert!(b.take(later).is_err());
    }

    #[test]
    fn a_slow_bucket_says_how_long_to_wait() {
        let t0 = Instant::now();
        let mut b = Bucket::full(THREADS, t0);
        for _ in 0..20 {
            assert_eq!(b.take(t0), Ok(()));
        }
        // one token every 3 s
        assert_eq!(b.take(t0), Err(3));
        assert_eq!(b.take(t0 + Duration::from_millis(2500)), Err(1));
        assert_eq!(b.take(t0 + Duration::from_millis(3100)), Ok(()));
    }

    #[test]
    fn keys_and_rules_have_their_own_buckets() {
        let (buckets, t0) = (Buckets::new(), Instant::now());
        for _ in 0..20 {
            assert!(buckets.take(THREADS, THREADS.key(1), t0).is_ok());
        }
        assert!(buckets.take(THREADS, THREADS.key(1), t0).is_err());
        assert!(buckets.take(THREADS, THREADS.key(2), t0).is_ok());
        assert!(buckets.take(SEND, SEND.key(1), t0).is_ok());
    }

    #[test]
    fn the_sweep_keeps_the_shards_bounded() {
        // one shard, so that the count is exact
        let (buckets, t0) = (Buckets::with_shards(1), Instant::now());
        let busy = SEND.key("busy");
        for _ in 0..60 {
            assert!(buckets.take(SEND, busy.clone(), t0).is_ok());
        }
        for i in 1..SWEEP_AT {
            assert!(buckets.take(SEND, SEND.key(i), t0).is_ok());
        }
        assert_eq!(buckets.len(), SWEEP_AT);
        // a second later the one-token buckets are full again, the emptied one is not
        let later = t0 + Duration::from_secs(1);
        assert!(buckets.take(SEND, SEND.key("new"), later).is_ok());
        assert_eq!(buckets.len(), 2);
        // and the bucket still in use kept its state: 30 tokens back, not 60
        for _ in 0..30 {
            assert!(buckets.take(SEND, busy.clone(), later).is_ok());
        }
        assert!(buckets.take(SEND, busy, later).is_err());
    }
}
