//! argon2id password hashing on the blocking pool, bounded so a login flood cannot starve the runtime.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::AppError;

/// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
pub const MEMORY_KIB: u32 = 19_456;
/// Passes.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;

/// Accepted password lengths, in bytes.
pub const LENGTH: std::ops::RangeInclusive<usize> = 8..=1024;

fn argon2() -> Result<Argon2<'static>, AppError> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(AppError::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes and verifies passwords, at most one per core at a time.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Default for Hasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Hasher {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }
}

/// Result of checking a password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Wrong password.
    Mismatch,
    /// Right password; the stored hash is current.
    Match,
    /// Right password; here is a hash with the current parameters to store instead.
    MatchRehashed(String),
}

impl Hasher {
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(AppError::internal)?
    }

    /// A new PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        self.blocking(move || hash_now(&password)).await
    }

    /// Checks `password` against `stored`; `None` compares against a dummy hash so unknown users
    /// take as long as known ones.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verdict, AppError> {
        self.blocking(move || {
            let dummy = stored.is_none();
            let stored = match stored {
                Some(stored) => stored,
                None => dummy_hash()?.to_owned(),
            };
            let parsed = PasswordHash::new(&stored).map_err(AppError::internal)?;
            let matches = argon2()?
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            if !matches || dummy {
                return Ok(Verdict::Mismatch);
            }
            if is_current(&parsed) {
                Ok(Verdict::Match)
            } else {
                Ok(Verdict::MatchRehashed(hash_now(&password)?))
            }
        })
        .await
    }
}

fn hash_now(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(AppError::internal)?
        .to_string())
}

fn is_current(hash: &PasswordHash<'_>) -> bool {
    let value = |name: &str| hash.params.get_decimal(name);
    hash.algorithm.as_str() == "argon2id"
        && hash.version == Some(Version::V0x13.into())
        && value("m") == Some(MEMORY_KIB)
        && value("t") == Some(ITERATIONS)
        && value("p") == Some(PARALLELISM)
}

fn dummy_hash() -> Result<&'static str, AppError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_now("dummy password for unknown users")?;
    Ok(DUMMY.get_or_init(|| hash))
}

/// Checks a new password's length; the error names `field`.
pub fn check_length(field: &str, password: &str) -> Result<(), AppError> {
    if LENGTH.contains(&password.len()) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            format!("must be {} to {} bytes long", LENGTH.start(), LENGTH.end()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_weaker_stored_hash_is_upgraded_on_a_correct_password() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        let hasher = Hasher::default();
        assert_eq!(
            hasher
                .verify("wrong horse".into(), Some(weak.clone()))
                .await
                .unwrap(),
            Verdict::Mismatch
        );
        match hasher
            .verify("correct horse".into(), Some(weak))
            .await
            .unwrap()
        {
            Verdict::MatchRehashed(new) => {
                assert!(new.contains("m=19456,t=2,p=1"), "{new}");
                assert_eq!(
                    hasher
                        .verify("correct horse".into(), Some(new))
                        .await
                        .unwrap(),
                    Verdict::Match
                );
            }
            other => panic!("expected a rehash, got {other:?}"),
        }
        assert_eq!(
            hasher.verify("correct horse".into(), None).await.unwrap(),
            Verdict::Mismatch
        );
    }
}
