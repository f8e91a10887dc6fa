//! bcrypt hashing and verification, always on the blocking pool, behind a bounded queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// bcrypt reads at most this many bytes of a password.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// How much waiting work the queue admits: what the slots can finish in about this long.
const MAX_QUEUED_WORK: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Failed(String),
    /// More checks are waiting than the slots finish in [`MAX_QUEUED_WORK`]; the payload is
    /// the seconds after which trying again is reasonable.
    #[error("password hashing is saturated")]
    Busy(u64),
}

/// At most (cores - 1) hashes at once, so a login storm cannot take every core from the
/// WebSocket workers; and a bounded queue in front of them, so that the storm is refused at
/// once instead of stalling every login behind it for minutes.
struct Gate {
    slots: Arc<tokio::sync::Semaphore>,
    slot_count: u64,
    /// Expected time of the checks admitted and not finished (waiting or running), in
    /// microseconds.
    pending_micros: AtomicU64,
    /// Moving average of one check's time per bcrypt cost, in microseconds; 0 until measured.
    average_micros: [AtomicU64; 32],
}

impl Gate {
    fn new() -> Gate {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let slot_count = cores.saturating_sub(1).max(1);
        Gate {
            slots: Arc::new(tokio::sync::Semaphore::new(slot_count)),
            slot_count: slot_count as u64,
            pending_micros: AtomicU64::new(0),
            average_micros: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Takes an admitted check's expected time off the pending work when it ends, however it ends.
struct Admitted {
    gate: Arc<Gate>,
    micros: u64,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.gate
            .pending_micros
            .fetch_sub(self.micros, Ordering::AcqRel);
    }
}

impl Gate {
    fn slot_of(cost: u32) -> usize {
        cost.min(31) as usize
    }

    /// One check's expected time in microseconds: the measured average for this cost, or
    /// before any measurement a guess (about 250 ms at cost 12; each step doubles it).
    fn average(&self, cost: u32) -> u64 {
        match self.average_micros[Self::slot_of(cost)].load(Ordering::Relaxed) {
            0 => 60u64 << cost.min(31),
            micros => micros,
        }
    }

    fn record(&self, cost: u32, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let average = &self.average_micros[Self::slot_of(cost)];
        let old = average.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            // weight 1/5 for the newest sample: follows a loaded machine within a few checks
            old.saturating_mul(4).saturating_add(sample) / 5
        };
        average.store(new.max(1), Ordering::Relaxed);
    }

    /// Admits one more check, or refuses it when the slots could not finish it and what is
    /// already pending within about [`MAX_QUEUED_WORK`] (plus the one each slot is running).
    fn admit(self: &Arc<Self>, cost: u32) -> Result<Admitted, PasswordError> {
        let micros = self.average(cost);
        let max_wait = u64::try_from(MAX_QUEUED_WORK.as_micros()).unwrap_or(u64::MAX);
        let budget = self
            .slot_count
            .saturating_mul(max_wait.saturating_add(micros));
        let before = self.pending_micros.fetch_add(micros, Ordering::AcqRel);
        let admitted = Admitted {
            gate: self.clone(),
            micros,
        };
        if before.saturating_add(micros) > budget {
            let drain_secs = before / self.slot_count / 1_000_000 + 1;
            return Err(PasswordError::Busy(drain_secs));
        }
        Ok(admitted)
    }
}

/// bcrypt for one server: its slots, its queue, its measured speed.
#[derive(Clone)]
pub struct Hasher {
    gate: Arc<Gate>,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher {
            gate: Arc::new(Gate::new()),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        cost: u32,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let admitted = self.gate.admit(cost)?;
        let slot = self
            .gate
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| PasswordError::Failed(e.to_string()))?;
        let gate = self.gate.clone();
        // The slot and the admission live as long as the hash itself, even when the request
        // that asked for it is dropped meanwhile (a blocking task cannot be cancelled).
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let out = work();
            let took = started.elapsed();
            gate.record(cost, took);
            metrics::histogram!("bcrypt_seconds").record(took.as_secs_f64());
            drop(slot);
            drop(admitted);
            out
        })
        .await
        .map_err(|e| PasswordError::Failed(e.to_string()))
    }

    pub async fn hash(&self, password: String, cost: u32) -> Result<String, PasswordError> {
        self.blocking(cost, move || bcrypt::hash(password, cost))
            .await?
            .map_err(|e| PasswordError::Failed(e.to_string()))
    }

    /// A password matches only in full: bcrypt alone would compare the first 72 bytes and
    /// accept anything after them. A longer one still goes through bcrypt, so that it takes as
    /// long to refuse as any wrong password.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, PasswordError> {
        let cost = hash
            .split('$')
            .nth(2)
            .and_then(|c| c.parse().ok())
            .unwrap_or(12);
        self.blocking(cost, move || {
            let fits = password.len() <= MAX_PASSWORD_BYTES;
            bcrypt::verify(password, &hash).unwrap_or(false) && fits
        })
        .await
    }

    /// Verifies against a throwaway hash of the same cost so that an unknown user name takes
    /// as long to refuse as a wrong password.
    pub async fn verify_dummy(&self, password: String, cost: u32) -> Result<(), PasswordError> {
        static DUMMY: OnceLock<(u32, String)> = OnceLock::new();
        self.blocking(cost, move || {
            let (dummy_cost, hash) = DUMMY.get_or_init(|| {
                (
                    cost,
                    bcrypt::hash("dummy-password-for-timing", cost).unwrap_or_default(),
                )
            });
            let hash = if *dummy_cost == cost {
                hash.clone()
            } else {
                bcrypt::hash("dummy", cost).unwrap_or_default()
            };
            let _ = bcrypt::verify(password, &hash);
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_admits_about_five_seconds_of_work_per_slot() {
        let gate = Arc::new(Gate::new());
        // 500 ms a check, measured
        gate.record(10, Duration::from_millis(500));
        let mut admitted = Vec::new();
        let refused = loop {
            match gate.admit(10) {
                Ok(a) => admitted.push(a),
                Err(e) => break e,
            }
            assert!(admitted.len() < 1000, "the queue must end");
        };
        // one running and 5 s (ten checks) waiting per slot
        assert_eq!(admitted.len() as u64, gate.slot_count * 11);
        let PasswordError::Busy(retry) = refused else {
            panic!("{refused}")
        };
        assert!((5..=7).contains(&retry), "{retry}");
        // a cheaper check would wait behind the same queue; what finishes makes room
        assert!(gate.admit(4).is_err());
        admitted.pop();
        assert!(gate.admit(10).is_ok());
        drop(admitted);
        assert_eq!(gate.pending_micros.load(Ordering::Acquire), 0);
    }
}
