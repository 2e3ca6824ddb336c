//! Assembling and running the server: [`App::build`] turns a [`Config`] into
//! the shared [`AppState`] and router; [`App::serve`] runs it until shutdown.
//! `main` and every integration test start the server the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderValue;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::http::connection::{self, ConnectionLimits};

use crate::cache::{Cache, CacheError};
use crate::clients::ClientCache;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::CryptoError;
use crate::crypto::kek_source::{self, KekError, KekOrigin};
use crate::crypto::key_encryption::KeyEncryptionKey;
use crate::crypto::keyring::KeyRing;
use crate::crypto::password::{PasswordError, PasswordHasher};
use crate::crypto::rotation::{self, KeyError};
use crate::login::cookies::CookiePolicy;
use crate::mail::Outbox;
use crate::store::{PurgeCutoffs, Store, StoreError};

/// How often the background purge runs, seconds.
const PURGE_INTERVAL_SECS: i64 = 600;

/// Rows deleted per table in one purge batch: small enough that a batch holds
/// the SQLite writer for a few milliseconds.
const PURGE_BATCH: i64 = 500;

/// Batches one purge run may take; what is left waits for the next run.
const PURGE_MAX_BATCHES: u32 = 200;

/// Pause between purge batches, so requests' writes go first.
const PURGE_PAUSE: Duration = Duration::from_millis(20);

/// Tasks handed off by requests that may run at once ([`AppState::detached`]).
const DETACHED_TASKS: usize = 64;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Durable state.
    pub store: Store,
    /// Clients read in the last few seconds.
    pub clients: Arc<ClientCache>,
    /// Hot, TTL'd state (sessions, codes, rate counters): in-process or Redis.
    pub cache: Cache,
    /// Signing and published keys.
    pub keys: Arc<KeyRing>,
    /// The time source.
    pub clock: Clock,
    /// Password hashing with bounded concurrency, shared by every request.
    pub passwords: Arc<PasswordHasher>,
    /// The discovery document, serialized once.
    pub discovery: Bytes,
    /// `Cache-Control` for the JWKS, bounded by the key publish delay.
    pub jwks_cache_control: HeaderValue,
    /// Names and attributes of the browser cookies, decided once from the issuer.
    pub cookies: CookiePolicy,
    /// Outgoing mail: where messages are written and how they leave.
    pub mail: Arc<Outbox>,
    /// Permits for work a request hands off and answers before it is done
    /// (a reset request's lookup and mail, so its answer takes the same time
    /// whether or not the account exists): bounded, so a flood cannot pile
    /// up tasks.
    pub detached: Arc<tokio::sync::Semaphore>,
    kek: Option<Arc<KeyEncryptionKey>>,
    /// The WebAuthn relying party; `None` when passkeys are unavailable.
    webauthn: Option<Arc<webauthn_rs::Webauthn>>,
}

impl AppState {
    /// What the interaction engine works with, at the time now.
    pub fn interactions(&self) -> crate::interaction::Interactions<'_> {
        crate::interaction::Interactions {
            cache: &self.cache,
            store: &self.store,
            limits: crate::admission::Limits::of(&self.config),
            passkeys: self.webauthn.is_some(),
            now: self.clock.now(),
        }
    }

    /// The second-factor service's inputs, at the time now.
    pub fn factors(&self) -> crate::factors::Factors<'_> {
        crate::factors::Factors {
            store: &self.store,
            kek: self.kek.as_deref(),
            issuer: crate::factors::ISSUER,
            now: self.clock.now(),
        }
    }

    /// The passkey service's inputs, at the time now.
    pub fn passkeys(&self) -> crate::passkeys::Passkeys<'_> {
        crate::passkeys::Passkeys {
            store: &self.store,
            cache: &self.cache,
            webauthn: self.webauthn.as_deref(),
            limits: crate::admission::Limits::of(&self.config),
            now: self.clock.now(),
        }
    }

    /// The account recovery service's inputs, at the time now.
    pub fn recovery(&self) -> crate::recovery::Recovery<'_> {
        crate::recovery::Recovery {
            store: &self.store,
            mail: &self.mail,
            reset_ttl_secs: self.config.password_reset_ttl_secs,
            now: self.clock.now(),
        }
    }

    /// The session service's inputs, at the time now.
    pub fn sessions(&self) -> crate::sessions::Sessions<'_> {
        crate::sessions::Sessions {
            cache: &self.cache,
            store: &self.store,
            timeouts: crate::sessions::Timeouts::of(&self.config),
            now: self.clock.now(),
        }
    }

    /// Re-reads the signing keys from the store (picks up `gatehouse keys rotate`).
    pub async fn reload_keys(&self) -> Result<(), KeyError> {
        let now = self.clock.now();
        let keys = rotation::load_ring_keys(
            &self.store,
            self.kek.as_deref(),
            now,
            self.config.max_token_ttl_secs(),
        )
        .await?;
        self.keys.replace(keys, now);
        Ok(())
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    /// Signing keys could not be created or loaded.
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    /// The configured Redis could not be reached.
    #[error("cannot use the cache at redis_url: {0}")]
    Cache(#[from] CacheError),
    /// The key-encryption key could not be derived.
    #[error("key encryption: {0}")]
    Crypto(#[from] CryptoError),
    /// The key-encryption key could not be read or generated.
    #[error("key encryption: {0}")]
    Kek(#[from] KekError),
    /// The password hasher could not be set up.
    #[error("password hashing: {0}")]
    Password(#[from] PasswordError),
    /// Authenticator secrets could not be re-sealed under the key-encryption key.
    #[error("authenticator secrets: {0}")]
    Factors(#[from] crate::factors::FactorError),
    /// A data directory or socket could not be set up.
    #[error("{0}")]
    Io(String),
    /// The mail settings cannot be used.
    #[error("mail: {0}")]
    Mail(String),
}

/// Opens the configured database (creating the data directory for the embedded
/// default) and applies migrations. Used by the server and by the CLI.
pub async fn open_store(config: &Config) -> Result<Store, StartError> {
    if config.uses_embedded_database() {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            StartError::Io(format!(
                "cannot create data_dir {}: {e}",
                config.data_dir.display()
            ))
        })?;
    }
    Ok(Store::connect(&config.database_url()).await?)
}

/// The key-encryption key to seal and open signing keys with (see
/// [`kek_source`]): configured, or generated into the data directory, or none
/// when the operator allowed plaintext keys. Keys sealed with a generated key
/// that a configured one replaces are re-sealed, and plaintext keys are sealed,
/// so after this every stored key opens with the returned one. A key that was
/// stored in plaintext is also replaced by a new one (published now, signing
/// after `key_publish_delay_secs`): older backups and freed database pages may
/// still hold its plaintext, so it must stop signing. Call it under the store's
/// start-up lock ([`Store::lock_startup`]), so two processes never both seal and replace.
pub async fn prepare_key_encryption(
    config: &Config,
    store: &Store,
    now: i64,
) -> Result<Option<KeyEncryptionKey>, StartError> {
    let choice = kek_source::choose(config)?;
    match &choice.origin {
        KekOrigin::Configured => {
            tracing::info!("signing keys at rest: sealed with the configured key_encryption_key")
        }
        KekOrigin::Generated(path) => {
            tracing::info!(path = %path.display(), "signing keys at rest: sealed with the generated key-encryption key (set key_encryption_key to manage it yourself)")
        }
        KekOrigin::PlaintextAllowed => tracing::warn!(
            "signing keys at rest: NOT encrypted (allow_plaintext_keys is set); a copy of the database holds usable signing keys"
        ),
    }
    if let Some(kek) = &choice.key {
        if let Some(previous) = &choice.superseded {
            rotation::reseal(store, previous, kek).await?;
            crate::factors::reseal(store, previous, kek).await?;
        }
        if rotation::seal_plaintext_keys(store, kek).await? > 0 {
            let kid = rotation::rotate(
                store,
                Some(kek),
                config.signing_key_bits,
                now,
                config.key_publish_delay_secs,
            )
            .await?;
            tracing::warn!(%kid, "signing keys stored in plaintext were sealed and will be replaced by a new key: backups taken before hold them in plaintext");
        }
    }
    Ok(choice.key)
}

/// What a server prepares before it serves, under the store's start-up lock
/// held by the caller: the key-encryption key ([`prepare_key_encryption`]) and,
/// on first start, the first signing key.
async fn prepare_signing_keys(
    config: &Config,
    store: &Store,
    now: i64,
) -> Result<Option<KeyEncryptionKey>, StartError> {
    let kek = prepare_key_encryption(config, store, now).await?;
    rotation::ensure_signing_key(store, kek.as_ref(), config.signing_key_bits, now).await?;
    Ok(kek)
}

/// A built server, ready to serve.
pub struct App {
    state: AppState,
}

impl App {
    /// Opens the store and the cache, prepares the signing keys (generating the
    /// first one on first start, sealing plaintext ones when a key-encryption key
    /// is set), sets up password hashing, and precomputes the discovery document.
    pub async fn build(config: Config, clock: Clock) -> Result<Self, StartError> {
        let store = open_store(&config).await?;
        let cache = match config.redis_url.as_deref() {
            Some(url) => Cache::connect(Some(url), &config.cache_namespace).await?,
            None => Cache::memory_bounded(config.cache_max_bytes),
        };
        let lock = store.lock_startup().await?;
        let prepared = prepare_signing_keys(&config, &store, clock.now()).await;
        lock.release().await;
        let kek = prepared?;
        let now = clock.now();
        let retention = config.max_token_ttl_secs();
        let keys = rotation::load_ring_keys(&store, kek.as_ref(), now, retention).await?;
        let max_age = config.key_publish_delay_secs.clamp(0, 300);
        let jwks_cache_control = HeaderValue::from_str(&format!("public, max-age={max_age}"))
            .map_err(|e| StartError::Io(e.to_string()))?;
        let passwords = Arc::new(PasswordHasher::new(&config)?);
        let webauthn = crate::passkeys::relying_party(&config.issuer).map(Arc::new);
        let kek = kek.map(Arc::new);
        let mail = Arc::new(Outbox::new(&config, kek.clone()).map_err(StartError::Mail)?);
        mail.announce();
        let state = AppState {
            clients: Arc::default(),
            discovery: crate::oidc::document(&config.issuer),
            jwks_cache_control,
            cookies: CookiePolicy::for_config(&config),
            keys: Arc::new(KeyRing::new(keys, now, retention)),
            config: Arc::new(config),
            store,
            cache,
            clock,
            passwords,
            kek,
            mail,
            detached: Arc::new(tokio::sync::Semaphore::new(DETACHED_TASKS)),
            webauthn,
        };
        Ok(Self { state })
    }

    /// The shared state (tests use it to reach the store and the clock).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The complete router.
    pub fn router(&self) -> Router {
        crate::http::router(self.state.clone())
    }

    /// Serves on every listener until `shutdown` resolves, then lets in-flight
    /// requests finish and closes the database. Connections are bounded (count
    /// below the file-descriptor limit, header-read and idle timeouts; see
    /// [`crate::connection`]).
    pub async fn serve(
        self,
        listeners: Vec<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let router = self.router();
        let limits = ConnectionLimits::for_config(&self.state.config);
        let permits = connection::permits(&limits);
        let mut servers = tokio::task::JoinSet::new();
        for listener in listeners {
            servers.spawn(connection::accept_loop(
                listener,
                router.clone(),
                limits,
                permits.clone(),
                stop_rx.clone(),
            ));
        }
        let mail = self.state.mail.is_on().then(|| {
            let (state, stop) = (self.state.clone(), stop_rx.clone());
            tokio::spawn(async move {
                let poll = Duration::from_millis(state.config.mail_poll_interval_ms);
                crate::mail::worker::run(&state.mail, &state.store, &state.clock, poll, stop).await;
            })
        });
        let maintenance = tokio::spawn(maintain(self.state.clone(), stop_rx));
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stop_tx.send(true);
        });
        let mut result = Ok(());
        while let Some(joined) = servers.join_next().await {
            if let Ok(Err(e)) = joined {
                result = Err(e);
            }
        }
        // Work requests handed off finishes before the database closes: a
        // person told "a link was sent" gets it.
        let all = u32::try_from(DETACHED_TASKS).unwrap_or(u32::MAX);
        let _ = self.state.detached.acquire_many(all).await;
        let _ = maintenance.await;
        if let Some(mail) = mail {
            let _ = mail.await;
        }
        self.state.store.close().await;
        result
    }
}

/// Binds every configured address. An address that cannot be bound (say, no
/// IPv6 on this host) is skipped with a warning as long as one other binds.
pub async fn bind(addresses: &[SocketAddr]) -> Result<Vec<TcpListener>, StartError> {
    let mut listeners = Vec::new();
    let mut failures = Vec::new();
    for address in addresses {
        match TcpListener::bind(address).await {
            Ok(listener) => listeners.push(listener),
            Err(e) => failures.push(format!("{address}: {e}")),
        }
    }
    if listeners.is_empty() {
        return Err(StartError::Io(format!(
            "cannot listen on any address: {}",
            failures.join("; ")
        )));
    }
    for failure in failures {
        tracing::warn!("not listening on {failure}");
    }
    Ok(listeners)
}

/// Deletes what nothing can use any more — expired or revoked grants and refresh
/// tokens, expired redeemed-code records and revocations — and audit events
/// older than `audit_retention_days`, in bounded batches with a pause between
/// them so requests never wait behind it. Returns how many rows went. Runs in
/// the background every [`PURGE_INTERVAL_SECS`]; public so tests can run it.
pub async fn purge_expired(state: &AppState) -> Result<u64, StoreError> {
    let now = state.clock.now();
    let cutoffs = PurgeCutoffs {
        now,
        tokens_issued_before: now - state.config.access_token_ttl_secs,
        audit_before: now - state.config.audit_retention_days * 86_400,
    };
    let mut deleted = 0;
    for _ in 0..PURGE_MAX_BATCHES {
        let round = state.store.purge_batch(&cutoffs, PURGE_BATCH).await?;
        deleted += round.deleted;
        if !round.more {
            break;
        }
        tokio::time::sleep(PURGE_PAUSE).await;
    }
    Ok(deleted)
}

/// Background upkeep: reloads keys so rotations made by the CLI or another
/// instance take effect, and runs [`purge_expired`].
async fn maintain(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick =
        tokio::time::interval(Duration::from_secs(state.config.key_refresh_interval_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_purge = i64::MIN;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        if let Err(e) = state.reload_keys().await {
            tracing::warn!(error = %e, "could not reload signing keys; keeping the current ones");
        }
        let now = state.clock.now();
        if now.saturating_sub(last_purge) >= PURGE_INTERVAL_SECS {
            match purge_expired(&state).await {
                Ok(purged) => {
                    last_purge = now;
                    tracing::debug!(purged, "purged expired and revoked rows");
                }
                Err(e) => tracing::warn!(error = %e, "could not purge expired rows"),
            }
        }
    }
}
