//! The start-up lock: what a process prepares in the shared database before it
//! serves — the schema's migrations, the sealing of signing keys, the first
//! signing key — is done by one process at a time, so instances started
//! together on an empty database (two replicas of a fresh deployment, a
//! restart racing a CLI command) never apply a migration twice or each make a
//! "first" key.
//!
//! PostgreSQL: a session-level advisory lock, held on a connection of its own.
//! SQLite: an exclusive lock on a file beside the database (`<file>.lock`);
//! SQLite's own locks cannot be held across the transactions a migration makes.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, Executor};

use super::{Backend, StoreError};

/// The advisory lock's id: "gatehous" in ASCII, so it will not collide with
/// another application's lock by accident (sqlx's migration lock uses another).
const ADVISORY_LOCK_ID: i64 = 0x6761_7465_686f_7573;

/// What a database's start-up lock is, decided once from its URL.
#[derive(Clone, Debug)]
pub(super) enum LockTarget {
    /// A PostgreSQL advisory lock.
    Advisory,
    /// An exclusive lock on this file, beside the SQLite database.
    File(PathBuf),
    /// An in-memory SQLite database is private to its process: nothing to share.
    Nothing,
}

impl LockTarget {
    /// The lock for the database `url` names.
    pub(super) fn for_url(backend: Backend, url: &str) -> Result<Self, StoreError> {
        if backend == Backend::Postgres {
            return Ok(LockTarget::Advisory);
        }
        if is_in_memory(url) {
            return Ok(LockTarget::Nothing);
        }
        let options = SqliteConnectOptions::from_str(url)?;
        let file = options.get_filename();
        // Through the real directory, so two URLs reaching one file (a
        // symlinked directory, `./` or not) share one lock. The directory
        // exists by now: the data directory is created before the store opens.
        let directory = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let directory = directory
            .canonicalize()
            .unwrap_or_else(|_| directory.to_owned());
        let mut name = file.file_name().unwrap_or_default().to_owned();
        name.push(".lock");
        Ok(LockTarget::File(directory.join(name)))
    }
}

/// Whether an SQLite URL names an in-memory database (`sqlite::memory:`,
/// `sqlite://:memory:`, or `mode=memory`), which only its process sees.
fn is_in_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (database, query) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || query.split('&').any(|pair| pair == "mode=memory")
}

/// Held while this process prepares shared state; [`StartupLock::release`]
/// lets the next one in. Dropped without it (a cancelled start), the lock
/// still ends: the file closes, or the PostgreSQL connection holding the
/// advisory lock is closed rather than returned to the pool.
#[derive(Debug)]
pub struct StartupLock {
    held: Option<Held>,
}

#[derive(Debug)]
enum Held {
    File(std::fs::File),
    Postgres(PoolConnection<Any>),
}

/// How often a process waiting for another's start-up says so in the log.
const WAIT_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl StartupLock {
    /// Waits for the lock `target` names; PostgreSQL's is taken through `pool`.
    pub(super) async fn acquire(target: &LockTarget, pool: &AnyPool) -> Result<Self, StoreError> {
        let held = match target {
            LockTarget::Advisory => Some(Held::Postgres(advisory_lock(pool).await?)),
            LockTarget::File(path) => Some(Held::File(lock_file(path.clone()).await?)),
            LockTarget::Nothing => None,
        };
        Ok(Self { held })
    }

    /// Lets the next process in.
    pub async fn release(mut self) {
        match self.held.take() {
            Some(Held::Postgres(mut conn)) => {
                let unlocked = (&mut *conn)
                    .execute(sqlx::query("select pg_advisory_unlock($1)").bind(ADVISORY_LOCK_ID))
                    .await;
                if let Err(e) = unlocked {
                    // The lock ends with the session: close it rather than pool it.
                    tracing::warn!(error = %e, "could not release the start-up lock; closing its connection");
                    let _ = conn.close().await;
                }
            }
            // Closing the file would release it too; say so at once.
            Some(Held::File(file)) => {
                if let Err(e) = file.unlock() {
                    tracing::warn!(error = %e, "could not unlock the start-up lock file; it unlocks as it closes");
                }
            }
            None => {}
        }
    }
}

impl Drop for StartupLock {
    fn drop(&mut self) {
        if let Some(Held::Postgres(conn)) = self.held.take() {
            // Never back into the pool with the lock held: the detached
            // connection closes, and its session's lock with it.
            drop(conn.detach());
        }
    }
}

/// Takes the advisory lock on a connection of `pool`, saying in the log while
/// another process holds it (its start-up usually takes well under a second).
async fn advisory_lock(pool: &AnyPool) -> Result<PoolConnection<Any>, StoreError> {
    let mut conn = pool.acquire().await?;
    let started = Instant::now();
    let mut next_log = Duration::ZERO;
    loop {
        let (locked,): (bool,) = sqlx::query_as("select pg_try_advisory_lock($1)")
            .bind(ADVISORY_LOCK_ID)
            .fetch_one(&mut *conn)
            .await?;
        if locked {
            return Ok(conn);
        }
        let waited = started.elapsed();
        if waited >= next_log {
            tracing::warn!(
                waited_secs = waited.as_secs(),
                "waiting for another instance (or gatehouse command) to finish preparing the database"
            );
            next_log = waited + WAIT_LOG_INTERVAL;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens (creating if needed) and exclusively locks `path`, waiting off the
/// async workers for another process to let go.
async fn lock_file(path: PathBuf) -> Result<std::fs::File, StoreError> {
    let shown = path.clone();
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    locked.map_err(|e| StoreError::Lock(format!("{}: {e}", shown.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_urls_are_told_from_files() {
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite:x.db?mode=memory",
        ] {
            assert!(is_in_memory(url), "{url}");
        }
        for url in ["sqlite:data/gatehouse.db?mode=rwc", "sqlite://memory.db"] {
            assert!(!is_in_memory(url), "{url}");
        }
    }
}
