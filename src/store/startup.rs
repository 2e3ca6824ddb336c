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

use std::path::PathBuf;
use std::str::FromStr;

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
        let options = SqliteConnectOptions::from_str(url)?;
        let file = options.get_filename();
        if file.as_os_str().is_empty() || file.as_os_str() == ":memory:" {
            return Ok(LockTarget::Nothing);
        }
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        Ok(LockTarget::File(PathBuf::from(name)))
    }
}

/// Held while this process prepares shared state; [`StartupLock::release`]
/// lets the next one in (dropping it does too, less promptly on PostgreSQL).
#[derive(Debug)]
pub struct StartupLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    File(std::fs::File),
    Postgres(PoolConnection<Any>),
    Nothing,
}

impl StartupLock {
    /// Waits for the lock `target` names; PostgreSQL's is taken through `pool`.
    pub(super) async fn acquire(target: &LockTarget, pool: &AnyPool) -> Result<Self, StoreError> {
        let held = match target {
            LockTarget::Advisory => {
                let mut conn = pool.acquire().await?;
                (&mut *conn)
                    .execute(sqlx::query("select pg_advisory_lock($1)").bind(ADVISORY_LOCK_ID))
                    .await?;
                Held::Postgres(conn)
            }
            LockTarget::File(path) => Held::File(lock_file(path.clone()).await?),
            LockTarget::Nothing => Held::Nothing,
        };
        Ok(Self { held })
    }

    /// Lets the next process in.
    pub async fn release(self) {
        match self.held {
            Held::Postgres(mut conn) => {
                let unlocked = (&mut *conn)
                    .execute(sqlx::query("select pg_advisory_unlock($1)").bind(ADVISORY_LOCK_ID))
                    .await;
                if let Err(e) = unlocked {
                    // The lock ends with the session: close it rather than pool it.
                    tracing::warn!(error = %e, "could not release the start-up lock; closing its connection");
                    let _ = conn.close().await;
                }
            }
            // Closing the file releases its lock.
            Held::File(file) => drop(file),
            Held::Nothing => {}
        }
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
