//! Failed-login windows in memory: the times of each key's recent failures.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::bucket::SWEEP_AT;

/// Failures older than this no longer count.
pub(super) const FAILED_LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub(super) struct Windows {
    /// Each key's failures: when, and an id for taking back a claim that turned out no failure.
    failures: Mutex<HashMap<String, Vec<(Instant, u64)>>>,
    next_id: AtomicU64,
}

impl Windows {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(Instant, u64)>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(seconds to wait)` when `key` has `max` failures or more in the window at `now`.
    #[cfg(test)]
    pub fn over(&self, key: &str, max: usize, now: Instant) -> Result<(), u64> {
        match self.lock().get_mut(key) {
            Some(failures) => refusal(failures, max, now),
            None => Ok(()),
        }
    }

    /// Counts one failure of `key` at `now`, keeping the newest `max` (no more can count);
    /// returns its id.
    #[cfg(test)]
    pub fn record(&self, key: &str, max: usize, now: Instant) -> u64 {
        let mut map = self.lock();
        self.push(&mut map, key, max, now)
    }

    /// Refuses like [`Windows::over`], or else counts a failure at once, in one step under one
    /// lock: concurrent attempts cannot all pass the check before any of them is counted. An
    /// attempt that turns out to be no failure gives it back with [`Windows::release`].
    pub fn claim(&self, key: &str, max: usize, now: Instant) -> Result<u64, u64> {
        let mut map = self.lock();
        if let Some(failures) = map.get_mut(key) {
            refusal(failures, max, now)?;
        }
        Ok(self.push(&mut map, key, max, now))
    }

    pub fn release(&self, key: &str, id: u64) {
        if let Some(failures) = self.lock().get_mut(key) {
            failures.retain(|(_, i)| *i != id);
        }
    }

    fn push(
        &self,
        map: &mut HashMap<String, Vec<(Instant, u64)>>,
        key: &str,
        max: usize,
        now: Instant,
    ) -> u64 {
        if map.len() >= SWEEP_AT {
            map.retain(|_, v| {
                v.iter()
                    .any(|(t, _)| now.saturating_duration_since(*t) < FAILED_LOGIN_WINDOW)
            });
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let failures = map.entry(key.to_owned()).or_default();
        failures.push((now, id));
        if failures.len() > max {
            failures.remove(0);
        }
        id
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// Drops the expired failures; `Err(seconds to wait)` when `max` or more remain. The refusal
/// lasts until enough of the oldest leave the window.
fn refusal(failures: &mut Vec<(Instant, u64)>, max: usize, now: Instant) -> Result<(), u64> {
    failures.retain(|(t, _)| now.saturating_duration_since(*t) < FAILED_LOGIN_WINDOW);
    if failures.len() < max {
        return Ok(());
    }
    let freeing = failures.get(failures.len() - max).map_or(now, |(t, _)| *t);
    let wait = FAILED_LOGIN_WINDOW.saturating_sub(now.saturating_duration_since(freeing));
    Err((wait.as_secs_f64().ceil() as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn max_failures_refuse_until_the_oldest_leave_the_window() {
        let (w, t0) = (Windows::default(), Instant::now());
        for i in 0..3 {
            assert_eq!(w.over("k", 3, t0 + MINUTE * i), Ok(()));
            w.record("k", 3, t0 + MINUTE * i);
        }
        let now = t0 + MINUTE * 3;
        // the first failure leaves the window 12 minutes from now
        assert_eq!(w.over("k", 3, now), Err(12 * 60));
        assert_eq!(w.over("other", 3, now), Ok(()));
        assert!(w
            .over("k", 3, t0 + FAILED_LOGIN_WINDOW - Duration::from_secs(1))
            .is_err());
        assert_eq!(w.over("k", 3, t0 + FAILED_LOGIN_WINDOW), Ok(()));
    }

    #[test]
    fn old_failures_expire() {
        let (w, t0) = (Windows::default(), Instant::now());
        for _ in 0..3 {
            w.record("k", 3, t0);
        }
        let later = t0 + FAILED_LOGIN_WINDOW + MINUTE;
        assert_eq!(w.over("k", 3, later), Ok(()));
        // and the expired ones do not count with new ones
        w.record("k", 3, later);
        w.record("k", 3, later);
        assert_eq!(w.over("k", 3, later), Ok(()));
        w.record("k", 3, later);
        assert!(w.over("k", 3, later).is_err());
    }

    #[test]
    fn the_sweep_keeps_the_map_bounded() {
        let (w, t0) = (Windows::default(), Instant::now());
        for i in 0..SWEEP_AT {
            w.record(&format!("k{i}"), 10, t0);
        }
        assert_eq!(w.len(), SWEEP_AT);
        w.record("recent", 10, t0 + MINUTE);
        // nothing expired yet: no key is dropped
        assert_eq!(w.len(), SWEEP_AT + 1);
        w.record("new", 10, t0 + FAILED_LOGIN_WINDOW);
        assert_eq!(w.len(), 2);
        assert!(w.over("recent", 1, t0 + FAILED_LOGIN_WINDOW).is_err());
    }

    #[test]
    fn only_the_newest_max_failures_are_kept() {
        let (w, t0) = (Windows::default(), Instant::now());
        for i in 0..5 {
            w.record("k", 2, t0 + MINUTE * i);
        }
        // the two newest (minutes 3 and 4) count: free once minute 3 leaves the window
        assert_eq!(w.over("k", 2, t0 + MINUTE * 5), Err(13 * 60));
    }
}
