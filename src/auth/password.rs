//! bcrypt hashing and verification, always on the blocking pool.

use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

/// At most (cores - 1) hashes at once, so a login storm queues here instead of taking every
/// core from the WebSocket workers.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1))
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(|e| PasswordError(e.to_string()))?;
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| PasswordError(e.to_string()))?;
    metrics::histogram!("bcrypt_seconds").record(started.elapsed().as_secs_f64());
    Ok(out)
}

pub async fn hash(password: String, cost: u32) -> Result<String, PasswordError> {
    blocking(move || bcrypt::hash(password, cost))
        .await?
        .map_err(|e| PasswordError(e.to_string()))
}

pub async fn verify(password: String, hash: String) -> Result<bool, PasswordError> {
    blocking(move || bcrypt::verify(password, &hash).unwrap_or(false)).await
}

/// Verifies against a throwaway hash of the same cost so that an unknown user name takes as
/// long to refuse as a wrong password.
pub async fn verify_dummy(password: String, cost: u32) -> Result<(), PasswordError> {
    static DUMMY: OnceLock<(u32, String)> = OnceLock::new();
    blocking(move || {
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
