//! Failed-login windows in memory: the times of each key's recent failures.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::bucket::SWEEP_AT;

/// Failures older than this no longer count.
pub(super) const FAILED_LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub(super) struct Windows {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Windows {
    /// `Err(seconds to wait)` when `key` has `max` failures or more in the window at `now`.
    pub fn over(&self, key: &str, max: usize, now: Instant) -> Result<(), u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
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

    /// Counts one failure of `key` at `now`, keeping the newest `max` (no more can count).
    pub fn record(&self, key: &str, max: usize, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, v| {
                v.iter()
                    .any(|t| now.saturating_duration_since(*t) < FAILED_LOGIN_WINDOW)
            });
        }
        let failures = map.entry(key.to_owned()).or_default();
        failures.push(now);
        if failures.len() > max {
            failures.remove(0);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
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
