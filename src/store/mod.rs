//! Durable state: clients, users, signing keys and revoked token ids, in SQLite (the
//! embedded default) or PostgreSQL (scale-out), picked once from the URL scheme.
//!
//! Both backends go through sqlx's `Any` driver with the same parameterised SQL;
//! the schema only uses types both share (TEXT, BIGINT, BLOB/BYTEA, integers for
//! flags), and each backend has its own migrations. See
//! `docs/decisions/0003-storage.md`.

mod audit;
mod clients;
mod consents;
mod grants;
mod introspection;
mod keys;
mod revocations;
mod signouts;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

pub use audit::{AuditEvent, AuditRow};
pub use clients::ClientRow;
pub use grants::{GrantFilter, GrantRow, RefreshUse};
pub use introspection::RefreshTokenState;
pub use keys::KeyRow;
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

/// Handle to the database; cheap to clone (it is a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `url`, creating an SQLite file if needed, and applies migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let options = AnyConnectOptions::from_str(url)?;
        let pool_options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        let pool = match backend {
            Backend::Sqlite => {
                pool_options
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "pragma journal_mode = wal; pragma synchronous = normal; \
                                 pragma busy_timeout = 5000; pragma foreign_keys = on;",
                            )
                            .await
                            .map(|_| ())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                pool_options
                    .max_connections(16)
                    .connect_with(options)
                    .await?
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        Ok(Self { pool, backend })
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
    }
}
