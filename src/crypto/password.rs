//! Password hashing (DESIGN.md rules 1 and 8): argon2id with the configured
//! cost, computed on a small pool of its own threads that run at the lowest
//! scheduling priority, so a sign-in flood takes only the CPU time other
//! requests leave over; a fixed number of hashing slots has a bounded queue in
//! front. When the
//! queue is full a check fails at once with [`PasswordError::Overloaded`] (the
//! HTTP layer answers 503) instead of piling up memory and latency.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{self, PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use aws_lc_rs::rand;
use tokio::sync::Semaphore;

use crate::config::Config;

/// Salt length: 128 bits, as the PHC string format recommends.
const SALT_BYTES: usize = 16;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing slot is busy and the queue is full: try again shortly.
    #[error("too many password checks in progress; try again shortly")]
    Overloaded,
    /// The hashing itself failed (bad parameters, RNG failure, lost task).
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Hashes and verifies passwords with bounded concurrency. One per server,
/// shared by every request; its `Debug` shows only the cost settings.
pub struct PasswordHasher {
    inner: Arc<Inner>,
    pool: std::sync::mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    concurrency: usize,
    capacity: usize,
}

/// What the blocking tasks need: the configured algorithm and a hash to burn
/// time on when there is nothing real to check.
struct Inner {
    argon2: Argon2<'static>,
    dummy: PasswordHash,
}

impl PasswordHasher {
    /// A hasher with the configured argon2id cost, slots and queue. Computes the
    /// dummy hash (for unknown users) once, here.
    pub fn new(config: &Config) -> Result<Self, PasswordError> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| PasswordError::Internal(format!("argon2 parameters: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut decoy = [0u8; 32];
        rand::fill(&mut decoy).map_err(|_| random_failed())?;
        let dummy = hash_with(&argon2, &decoy)?;
        let concurrency = match config.password_hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            n => n,
        };
        Ok(Self {
            inner: Arc::new(Inner { argon2, dummy }),
            pool: start_pool(concurrency)?,
            slots: Arc::new(Semaphore::new(concurrency)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            concurrency,
            capacity: concurrency.saturating_add(config.password_hash_queue),
        })
    }

    /// The argon2id PHC string (`$argon2id$v=19$m=…`) of `password`, with a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_owned();
        self.run(move |inner| hash_with(&inner.argon2, password.as_bytes()).map(|h| h.to_string()))
            .await?
    }

    /// Whether `password` matches the `stored` PHC string.
    ///
    /// `stored: None` (unknown user / no password) verifies against a dummy hash
    /// made at construction with the same params, then returns false: same cost,
    /// same answer shape (DESIGN rule 8). A stored hash that cannot be used is
    /// logged and treated the same way.
    pub async fn verify(
        &self,
        password: &str,
        stored: Option<&str>,
    ) -> Result<bool, PasswordError> {
        let password = password.to_owned();
        let stored = stored.map(str::to_owned);
        self.run(move |inner| inner.verify(password.as_bytes(), stored.as_deref()))
            .await
    }

    /// Whether `stored` is an argon2id hash made with exactly the configured
    /// cost (memory, passes, lanes, version). Parsing only, no hashing: cheap
    /// enough for the async runtime. An unparseable hash is not current.
    pub fn is_current(&self, stored: &str) -> bool {
        let Ok(hash) = PasswordHash::new(stored) else {
            return false;
        };
        let configured = self.inner.argon2.params();
        hash.algorithm == Algorithm::Argon2id.ident()
            && hash.version == Some(u32::from(Version::V0x13))
            && Params::try_from(&hash).is_ok_and(|params| {
                params.m_cost() == configured.m_cost()
                    && params.t_cost() == configured.t_cost()
                    && params.p_cost() == configured.p_cost()
            })
    }

    /// Runs `job` on the blocking pool once a slot is free, or refuses at once
    /// when the slots and the queue are all taken.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let admitted = self.admit()?;
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Internal("the hashing slots are closed".into()))?;
        let inner = Arc::clone(&self.inner);
        let (done, result) = tokio::sync::oneshot::channel();
        // The slot and the admission travel with the job: a caller that goes
        // away does not free them while the hash is still being computed.
        let job: Job = Box::new(move || {
            let result = job(&inner);
            // Give the slot back before answering, so a caller that retries at
            // once finds it free.
            drop((admitted, slot));
            let _ = done.send(result);
        });
        self.pool
            .send(job)
            .map_err(|_| PasswordError::Internal("the hashing threads are gone".into()))?;
        result
            .await
            .map_err(|_| PasswordError::Internal("the hashing job was lost".into()))
    }

    /// Counts one more request in flight, or refuses if that would exceed the
    /// slots plus the queue.
    fn admit(&self) -> Result<Admitted, PasswordError> {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let admitted = Admitted(Arc::clone(&self.in_flight));
        if before >= self.capacity {
            return Err(PasswordError::Overloaded);
        }
        Ok(admitted)
    }
}

impl Inner {
    fn verify(&self, password: &[u8], stored: Option<&str>) -> bool {
        let parsed = match stored.map(PasswordHash::new) {
            Some(Ok(hash)) => Some(hash),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "a stored password hash does not parse; the password is refused");
                None
            }
            None => None,
        };
        let Some(hash) = parsed else {
            let _ = self.argon2.verify_password(password, &self.dummy);
            return false;
        };
        match self.argon2.verify_password(password, &hash) {
            Ok(()) => true,
            Err(password_hash::Error::PasswordInvalid) => false,
            Err(e) => {
                tracing::warn!(error = %e, "a stored password hash cannot be checked; the password is refused");
                false
            }
        }
    }
}

/// A unit of hashing work for the pool.
type Job = Box<dyn FnOnce() + Send>;

/// Starts `threads` hashing threads at the lowest priority; they end when the
/// hasher (the sending side) is dropped.
fn start_pool(threads: usize) -> Result<std::sync::mpsc::Sender<Job>, PasswordError> {
    let (sender, receiver) = std::sync::mpsc::channel::<Job>();
    let receiver = Arc::new(std::sync::Mutex::new(receiver));
    for n in 0..threads {
        let receiver = Arc::clone(&receiver);
        std::thread::Builder::new()
            .name(format!("gatehouse-argon2-{n}"))
            .spawn(move || {
                lower_own_priority();
                loop {
                    let next = match receiver.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match next {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| PasswordError::Internal(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(sender)
}

/// Nice 19 for the calling thread (on Linux, priorities are per thread), so
/// the async workers win every contended time slice.
fn lower_own_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, 19) {
        tracing::warn!(error = %e, "could not lower the priority of a hashing thread");
    }
}

/// One request counted in flight until dropped.
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &[u8]) -> Result<PasswordHash, PasswordError> {
    let mut salt = [0u8; SALT_BYTES];
    rand::fill(&mut salt).map_err(|_| random_failed())?;
    argon2
        .hash_password_with_salt(password, &salt)
        .map_err(|e| PasswordError::Internal(e.to_string()))
}

fn random_failed() -> PasswordError {
    PasswordError::Internal("the system random number generator failed".into())
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params = self.inner.argon2.params();
        f.debug_struct("PasswordHasher")
            .field("memory_kib", &params.m_cost())
            .field("iterations", &params.t_cost())
            .field("parallelism", &params.p_cost())
            .field("concurrency", &self.concurrency)
            .field("queue", &(self.capacity - self.concurrency))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(&Config {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..Config::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_are_salted_argon2id_with_the_configured_cost() {
        let hasher = cheap();
        let a = hasher.hash("correct horse").await.unwrap();
        let b = hasher.hash("correct horse").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "every hash has its own salt");
        assert!(hasher.verify("correct horse", Some(&a)).await.unwrap());
        assert!(!hasher.verify("correct horsE", Some(&a)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_users_and_broken_hashes_never_verify() {
        let hasher = cheap();
        assert!(!hasher.verify("anything", None).await.unwrap());
        for broken in [
            "",
            "plaintext",
            "$argon2id$v=19$m=64,t=1,p=1$bm9wZQ",
            "$2b$10$abc",
        ] {
            assert!(
                !hasher.verify("plaintext", Some(broken)).await.unwrap(),
                "{broken}"
            );
        }
    }

    #[test]
    fn debug_shows_settings_only() {
        let shown = format!("{:?}", cheap());
        assert!(
            shown.contains("memory_kib: 64") && !shown.contains('$'),
            "{shown}"
        );
    }
}
