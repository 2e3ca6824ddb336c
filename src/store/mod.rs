//! Durable state: clients, users, signing keys and revoked token ids, in SQLite (the
//! embedded default) or PostgreSQL (scale-out), picked once from the URL scheme.
//!
//! Both backends go through sqlx's `Any` driver with the same parameterised SQL;
//! the schema only uses types both share (TEXT, BIGINT, BLOB/BYTEA, integers for
//! flags), and each backend has its own migrations. See
//! `docs/decisions/0003-storage.md`.

mod account_tokens;
mod apps;
mod audit;
mod clients;
mod consents;
mod factors;
mod grants;
mod keys;
mod outbox;
mod passkeys;
mod purge;
mod redemptions;
mod revocations;
mod signouts;
mod startup;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Executor};

pub use account_tokens::AccountTokenRow;
pub use apps::{ConsentRow, LiveGrantRow};
pub use audit::{AuditEvent, AuditRow, SIGN_IN_FAILED};
pub use clients::ClientRow;
pub use factors::TotpRow;
pub use grants::{GrantFilter, GrantRow, RefreshTokenRow};
pub use keys::KeyRow;
pub use outbox::{ClaimedMail, MAIL_STATUSES, MailRow, NewMail};
pub use passkeys::PasskeyRow;
pub use purge::{PurgeCutoffs, PurgeRound};
pub use redemptions::RedeemedCode;
pub use revocations::AccessTokenStanding;
pub use signouts::AccountStanding;
pub use startup::StartupLock;
pub use users::UserRow;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a database URL names, if it is one we support.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A failure reading or writing durable state.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A write would repeat a value that must be unique.
    #[error("a row with that unique value already exists")]
    Duplicate,
    /// The URL names a database we do not support.
    #[error("unsupported database URL (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed to apply.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded (corrupt row).
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
    /// The start-up lock file could not be created or locked.
    #[error("cannot take the start-up lock file {0}")]
    Lock(String),
}

impl StoreError {
    /// A failed write, with unique-constraint violations told apart as
    /// [`StoreError::Duplicate`] (the `Any` driver passes the backend's error through).
    fn from_write(e: sqlx::Error) -> Self {
        match e.as_database_error() {
            Some(db) if db.is_unique_violation() => StoreError::Duplicate,
            _ => StoreError::Database(e),
        }
    }
}

/// Settings of every SQLite connection: WAL (readers never wait for the
/// writer), and a busy timeout of 15 s — how long a writer waits for a lock held
/// by another process (the CLI, a backup) before the write fails — and
/// `secure_delete`, so the pages a deleted or re-sealed secret leaves behind are
/// zeroed rather than kept in the file.
const SQLITE_PRAGMAS: &str = "pragma journal_mode = wal; pragma synchronous = normal; \
     pragma busy_timeout = 15000; pragma foreign_keys = on; pragma secure_delete = on;";

/// How long a write waits for a writer connection.
const WRITER_WAIT: Duration = Duration::from_secs(30);

/// Writer connections to PostgreSQL. Separate from the readers', so writes
/// stuck behind a lock never take the connections reads need.
const POSTGRES_WRITERS: u32 = 8;

/// Handle to the database; cheap to clone (it is a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    /// Reads.
    pool: AnyPool,
    /// Writes: on SQLite a pool of exactly one connection, the single writer
    /// path; on PostgreSQL a few connections of their own (row locks order the
    /// writers there). Either way, writes waiting for a lock never starve reads.
    writer: AnyPool,
    backend: Backend,
    startup: startup::LockTarget,
}

/// A unit of work: every write made through it takes effect together at
/// [`Tx::commit`], or — when it is dropped uncommitted, or any statement fails —
/// none does. Holds the writer connection, so on SQLite no other write
/// interleaves with it; keep it short and never await another store write
/// while holding one.
#[derive(Debug)]
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
}

impl Tx {
    /// Makes every write of this unit of work durable at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.inner.commit().await?;
        Ok(())
    }

    fn conn(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }

    /// The row of `table` whose `id` is `id`, locked until this unit of work
    /// ends, so a read-modify-write made through it never writes a stale copy
    /// back over a concurrent change: `for update` on PostgreSQL (a concurrent
    /// unit of work changing the row waits for this one); on SQLite
    /// `BEGIN IMMEDIATE` already holds the database's write lock.
    async fn row_for_update<T>(
        &mut self,
        table: &str,
        columns: &str,
        id: &str,
    ) -> Result<T, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let locking = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " for update",
        };
        let sql = format!("select {columns} from {table} where id = $1{locking}");
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?
            .ok_or(StoreError::NotFound)
    }
}

/// `Ok` when a write by id changed its row; [`StoreError::NotFound`] when no
/// row has that id.
fn changed_a_row(result: &sqlx::any::AnyQueryResult) -> Result<(), StoreError> {
    match result.rows_affected() {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// Options for an SQLite pool of `size` connections with [`SQLITE_PRAGMAS`].
fn sqlite_pool(options: AnyPoolOptions, size: u32) -> AnyPoolOptions {
    options.max_connections(size).after_connect(|conn, _| {
        Box::pin(async move { conn.execute(SQLITE_PRAGMAS).await.map(|_| ()) })
    })
}

impl Store {
    /// Connects to `url`, creating an SQLite file if needed, and applies
    /// migrations under the start-up lock (see [`Store::lock_startup`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let startup = startup::LockTarget::for_url(backend, url)?;
        let options = AnyConnectOptions::from_str(url)?;
        let pool_options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let writer = sqlite_pool(AnyPoolOptions::new(), 1)
                    .acquire_timeout(WRITER_WAIT)
                    .connect_with(options.clone())
                    .await?;
                // Migrations create the file's WAL and schema before readers open it.
                let lock = StartupLock::acquire(&startup, &writer).await?;
                let migrated = SQLITE_MIGRATIONS.run(&writer).await;
                lock.release().await;
                migrated?;
                let pool = sqlite_pool(pool_options, 8).connect_with(options).await?;
                (pool, writer)
            }
            Backend::Postgres => {
                let writer = AnyPoolOptions::new()
                    .max_connections(POSTGRES_WRITERS)
                    .acquire_timeout(WRITER_WAIT)
                    .connect_with(options.clone())
                    .await?;
                let lock = StartupLock::acquire(&startup, &writer).await?;
                let migrated = POSTGRES_MIGRATIONS.run(&writer).await;
                lock.release().await;
                migrated?;
                let pool = pool_options
                    .max_connections(16)
                    .connect_with(options)
                    .await?;
                (pool, writer)
            }
        };
        Ok(Self {
            pool,
            writer,
            backend,
            startup,
        })
    }

    /// Waits until no other process is preparing this database's shared
    /// state (migrations, sealing signing keys, the first signing key) and
    /// keeps others out until [`StartupLock::release`]: check-then-create
    /// steps at start run under it, so instances started together never both
    /// create what there must be one of.
    pub async fn lock_startup(&self) -> Result<StartupLock, StoreError> {
        StartupLock::acquire(&self.startup, &self.writer).await
    }

    /// Starts a unit of work on the writer path. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`), so a transaction that reads before it
    /// writes waits for the lock (busy timeout) instead of failing with
    /// `SQLITE_BUSY` when it upgrades. A read-modify-write reads through the
    /// `Tx`'s `…_for_update` methods, so no concurrent change is overwritten.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let inner = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        };
        Ok(Tx {
            inner,
            backend: self.backend,
        })
    }

    /// Which engine this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers a trivial query (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection; pending queries finish first.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}
