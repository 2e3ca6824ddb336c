//! Configuration: built-in defaults, then an optional `gatehouse.toml`, then
//! `GATEHOUSE_*` environment variables (plus `DATABASE_URL` and `REDIS_URL`).
//! Every value is checked at start; a bad one stops the server with a message
//! naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use crate::crypto::signing_key::ALLOWED_BITS;
use crate::http::client_ip::{ForwardedHeader, IpNetwork};
use crate::store::Backend;

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines for a terminal.
    Text,
    /// One JSON object per line for log collectors.
    Json,
}

/// Every setting the server and the CLI read.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Public base URL; the `iss` of every token. `localhost`, not an IP, by default
    /// because WebAuthn refuses IP origins.
    pub issuer: String,
    /// Addresses to listen on (comma-separated in the environment).
    #[serde(deserialize_with = "one_or_many")]
    pub listen: Vec<SocketAddr>,
    /// Where the embedded SQLite database lives.
    pub data_dir: PathBuf,
    /// `sqlite:…` or `postgres://…`; defaults to SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// `redis://…` for the shared cache when several instances serve together;
    /// without it the cache is in-process.
    pub redis_url: Option<String>,
    /// Prefix of every cache key, so several deployments (or tests) can share one Redis.
    pub cache_namespace: String,
    /// Secret that encrypts private signing keys at rest. Without it, a secret is
    /// generated into `data_dir` (SQLite); PostgreSQL requires it.
    pub key_encryption_key: Option<String>,
    /// Store signing keys unencrypted when no `key_encryption_key` is set, instead
    /// of generating one (SQLite) or refusing to start (PostgreSQL). Not recommended.
    pub allow_plaintext_keys: bool,
    /// RSA modulus size for new signing keys: 2048, 3072 or 4096.
    pub signing_key_bits: u32,
    /// Seconds a rotated-in key is published before it signs.
    pub key_publish_delay_secs: i64,
    /// Seconds between reloads of the key ring from the database.
    pub key_refresh_interval_secs: u64,
    /// Lifetime of access tokens, seconds.
    pub access_token_ttl_secs: i64,
    /// Lifetime of ID tokens, seconds.
    pub id_token_ttl_secs: i64,
    /// Lifetime of authorization codes, seconds (at most 60).
    pub authorization_code_ttl_secs: i64,
    /// A refresh token unused for this long expires, seconds.
    pub refresh_token_idle_ttl_secs: i64,
    /// No refresh token of a grant outlives this, counted from sign-in, seconds.
    pub refresh_token_absolute_ttl_secs: i64,
    /// A browser session unused for this long ends, seconds.
    pub session_idle_timeout_secs: i64,
    /// No browser session outlives this, counted from sign-in, seconds.
    pub session_absolute_timeout_secs: i64,
    /// The account area asks for the password again before a sensitive change
    /// (a new password, signing out everywhere else) when the sign-in is
    /// older than this, seconds.
    pub reauthenticate_after_secs: i64,
    /// Require PKCE from confidential clients too (public clients always need it).
    pub require_pkce: bool,
    /// Everyone signing in to any app must use more than a password (an
    /// authenticator app or a passkey); the account area stays open to a
    /// password alone, so people can set one up.
    pub require_mfa: bool,
    /// Argon2id memory cost in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations (OWASP: 2).
    pub argon2_iterations: u32,
    /// Argon2id lanes (OWASP: 1).
    pub argon2_parallelism: u32,
    /// Password hashes computed at once; 0 means one per CPU core.
    pub password_hash_concurrency: usize,
    /// Password checks allowed to wait for a hashing slot before new ones get 503.
    pub password_hash_queue: usize,
    /// Failed sign-ins per account within `login_window_secs` before sign-in is refused.
    pub login_attempts_per_account: u32,
    /// Failed sign-ins per client IP within `login_window_secs` before sign-in is refused.
    pub login_attempts_per_ip: u32,
    /// Window for counting failed sign-ins, seconds.
    pub login_window_secs: u64,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    /// Days audit events are kept before the background purge deletes them.
    pub audit_retention_days: i64,
    /// Load balancers and reverse proxies (CIDRs, comma-separated in the
    /// environment) whose `Forwarded` / `X-Forwarded-For` headers name the
    /// client. Empty (the default): the TCP peer is the client.
    #[serde(deserialize_with = "one_or_many")]
    pub trusted_proxies: Vec<IpNetwork>,
    /// The one header `trusted_proxies` set to name the client:
    /// `x-forwarded-for` (the default) or `forwarded`. The other is ignored.
    pub forwarded_header: ForwardedHeader,
    /// Byte budget of the in-process cache (unused with Redis): when full it
    /// sheds pending sign-ins, never sessions, codes or counters.
    pub cache_max_bytes: usize,
    /// Pending authorization requests one client address (an IPv6 /64) may
    /// start within 15 minutes.
    pub max_pending_per_address: u32,
    /// Pending authorization requests kept for all clients together; beyond it
    /// the oldest are dropped (their sign-in pages say so), never a new one refused.
    pub max_pending: u32,
    /// A connection must send a request's complete headers within this many
    /// seconds of connecting or of the previous response.
    pub header_read_timeout_secs: u64,
    /// A connection that moves no bytes for this many seconds is closed.
    pub connection_idle_timeout_secs: u64,
    /// A request (reading its body included) must be answered within this many
    /// seconds, so a body trickled one byte at a time cannot hold a connection.
    pub request_timeout_secs: u64,
    /// Open connections at most; new ones wait in the listen backlog. Capped
    /// at start below the process's file-descriptor limit.
    pub max_connections: usize,
    /// Where mail goes: `smtps://host:465` (TLS), `smtp://host:587?tls=required`
    /// (STARTTLS), or `smtp://host:25` (plain, for a relay on the same host or
    /// network). A user name may be given in the URL; the password is better
    /// given in `smtp_password_file` or `GATEHOUSE_SMTP_PASSWORD`. Without it,
    /// a development server (an `http://` issuer on a loopback host) writes
    /// messages to the log and any other server sends no mail.
    pub smtp_url: Option<String>,
    /// The SMTP password (set it through `GATEHOUSE_SMTP_PASSWORD`, not a file
    /// under version control).
    pub smtp_password: Option<String>,
    /// A file whose first line is the SMTP password.
    pub smtp_password_file: Option<PathBuf>,
    /// The sender of every message, as `Name <address>` or an address.
    pub mail_from: String,
    /// Delivery attempts of a message before it is kept as failed.
    pub mail_max_attempts: u32,
    /// How often the delivery worker looks for due messages, milliseconds
    /// (a message written by this instance is picked up at once).
    pub mail_poll_interval_ms: u64,
    /// How long a password reset link works, seconds (at most an hour).
    pub password_reset_ttl_secs: i64,
    /// Password reset links one address may ask for within `login_window_secs`.
    pub password_reset_requests_per_account: u32,
    /// Password reset links one client IP (an IPv6 /64) may ask for, for any
    /// addresses, within `login_window_secs`: what bounds the mail a stranger
    /// can make the server send.
    pub password_reset_requests_per_ip: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://localhost:8080".into(),
            listen: vec![
                SocketAddr::from(([127, 0, 0, 1], 8080)),
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 8080)),
            ],
            data_dir: PathBuf::from("data"),
            database_url: None,
            redis_url: None,
            cache_namespace: "gatehouse:".into(),
            key_encryption_key: None,
            allow_plaintext_keys: false,
            signing_key_bits: 2048,
            key_publish_delay_secs: 3600,
            key_refresh_interval_secs: 60,
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 3600,
            authorization_code_ttl_secs: 60,
            refresh_token_idle_ttl_secs: 14 * 86_400,
            refresh_token_absolute_ttl_secs: 90 * 86_400,
            session_idle_timeout_secs: 3600,
            session_absolute_timeout_secs: 12 * 3600,
            reauthenticate_after_secs: 300,
            require_pkce: false,
            require_mfa: false,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            password_hash_concurrency: 0,
            password_hash_queue: 64,
            login_attempts_per_account: 10,
            login_attempts_per_ip: 100,
            login_window_secs: 900,
            log_format: LogFormat::Text,
            max_body_bytes: 64 * 1024,
            audit_retention_days: 90,
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            cache_max_bytes: 64 * 1024 * 1024,
            max_pending_per_address: 500,
            max_pending: 10_000,
            header_read_timeout_secs: 10,
            connection_idle_timeout_secs: 60,
            request_timeout_secs: 30,
            max_connections: 10_000,
            smtp_url: None,
            smtp_password: None,
            smtp_password_file: None,
            mail_from: "Gatehouse <gatehouse@localhost>".into(),
            mail_max_attempts: 10,
            mail_poll_interval_ms: 2000,
            password_reset_ttl_secs: 900,
            password_reset_requests_per_account: 3,
            password_reset_requests_per_ip: 10,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(&self.masked()).unwrap_or_default())
    }
}

/// A configuration value that is missing, malformed or out of range.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be read into the settings.
    #[error("configuration error: {0}")]
    Load(Box<figment::Error>),
    /// A value was read but is not acceptable.
    #[error("configuration error: `{key}`: {message}")]
    Invalid {
        /// The setting's name.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl Config {
    /// Loads defaults → `file` (if given) → environment, then validates.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(invalid(
                    "config",
                    format!("file {} does not exist", file.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        let config: Config = figment
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL"]))
            .merge(Env::prefixed("GATEHOUSE_").ignore(&["CONFIG", "LOG"]))
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        config.validated()
    }

    /// Checks every value and normalises the issuer (no trailing slash).
    pub fn validated(mut self) -> Result<Self, ConfigError> {
        let issuer = Url::parse(&self.issuer)
            .map_err(|e| invalid("issuer", format!("{:?} is not a URL ({e})", self.issuer)))?;
        if !matches!(issuer.scheme(), "http" | "https")
            || issuer.query().is_some()
            || issuer.fragment().is_some()
            || !issuer.username().is_empty()
        {
            return Err(invalid(
                "issuer",
                "must be an http(s) URL without credentials, query or fragment",
            ));
        }
        self.issuer = self.issuer.trim_end_matches('/').to_owned();
        if self.listen.is_empty() {
            return Err(invalid("listen", "at least one address is required"));
        }
        if let Some(url) = &self.database_url
            && Backend::from_url(url).is_none()
        {
            return Err(invalid(
                "database_url",
                "must start with sqlite: or postgres://",
            ));
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(invalid(
                "redis_url",
                "must start with redis:// or rediss://",
            ));
        }
        if self.cache_namespace.is_empty() {
            return Err(invalid(
                "cache_namespace",
                "must not be empty (e.g. \"gatehouse:\")",
            ));
        }
        if let Some(kek) = &self.key_encryption_key
            && kek.len() < 16
        {
            return Err(invalid(
                "key_encryption_key",
                "must be at least 16 characters",
            ));
        }
        if !ALLOWED_BITS.contains(&self.signing_key_bits) {
            return Err(invalid("signing_key_bits", "must be 2048, 3072 or 4096"));
        }
        if self.key_encryption_key.is_none()
            && !self.allow_plaintext_keys
            && self
                .database_url
                .as_deref()
                .and_then(Backend::from_url)
                .is_some_and(|backend| backend == Backend::Postgres)
        {
            return Err(invalid(
                "key_encryption_key",
                "is required with PostgreSQL: every instance sharing the database must seal signing keys \
                 with the same secret (set GATEHOUSE_KEY_ENCRYPTION_KEY to at least 32 random characters, \
                 the same on every instance), or set allow_plaintext_keys = true to store them unencrypted \
                 (not recommended: a copy of the database would then hold usable signing keys)",
            ));
        }
        for (key, value, min, max) in self.numeric_bounds() {
            if !(min..=max).contains(&value) {
                return Err(invalid(key, format!("must be between {min} and {max}")));
            }
        }
        if self.argon2_memory_kib < 8 * self.argon2_parallelism {
            return Err(invalid(
                "argon2_memory_kib",
                "must be at least 8 KiB per lane (argon2_parallelism)",
            ));
        }
        crate::mail::check_settings(&self).map_err(|(key, message)| invalid(key, message))?;
        if self.trusted_proxies.len() > MAX_TRUSTED_PROXIES {
            return Err(invalid(
                "trusted_proxies",
                format!("at most {MAX_TRUSTED_PROXIES} networks"),
            ));
        }
        Ok(self)
    }

    /// Every number with its accepted range, inclusive: (key, value, min, max).
    /// The upper bounds keep times and sizes far from overflow wherever they
    /// are added to a timestamp or multiplied, whatever a file or environment says.
    fn numeric_bounds(&self) -> [(&'static str, i128, i128, i128); 32] {
        const DAY: i128 = 86_400;
        [
            (
                "key_publish_delay_secs",
                self.key_publish_delay_secs.into(),
                0,
                30 * DAY,
            ),
            (
                "key_refresh_interval_secs",
                self.key_refresh_interval_secs.into(),
                1,
                DAY,
            ),
            (
                "access_token_ttl_secs",
                self.access_token_ttl_secs.into(),
                30,
                DAY,
            ),
            ("id_token_ttl_secs", self.id_token_ttl_secs.into(), 1, DAY),
            (
                "authorization_code_ttl_secs",
                self.authorization_code_ttl_secs.into(),
                1,
                60,
            ),
            (
                "refresh_token_idle_ttl_secs",
                self.refresh_token_idle_ttl_secs.into(),
                1,
                365 * DAY,
            ),
            (
                "refresh_token_absolute_ttl_secs",
                self.refresh_token_absolute_ttl_secs.into(),
                1,
                5 * 365 * DAY,
            ),
            (
                "session_idle_timeout_secs",
                self.session_idle_timeout_secs.into(),
                1,
                30 * DAY,
            ),
            (
                "reauthenticate_after_secs",
                self.reauthenticate_after_secs.into(),
                1,
                DAY,
            ),
            (
                "session_absolute_timeout_secs",
                self.session_absolute_timeout_secs.into(),
                1,
                365 * DAY,
            ),
            (
                "argon2_memory_kib",
                self.argon2_memory_kib.into(),
                8,
                4 * 1024 * 1024,
            ),
            ("argon2_iterations", self.argon2_iterations.into(), 1, 64),
            ("argon2_parallelism", self.argon2_parallelism.into(), 1, 64),
            (
                "password_hash_concurrency",
                to_i128(self.password_hash_concurrency),
                0,
                1024,
            ),
            (
                "password_hash_queue",
                to_i128(self.password_hash_queue),
                0,
                100_000,
            ),
            (
                "login_attempts_per_account",
                self.login_attempts_per_account.into(),
                1,
                1_000_000,
            ),
            (
                "login_attempts_per_ip",
                self.login_attempts_per_ip.into(),
                1,
                1_000_000,
            ),
            (
                "login_window_secs",
                self.login_window_secs.into(),
                1,
                7 * DAY,
            ),
            (
                "max_body_bytes",
                to_i128(self.max_body_bytes),
                1024,
                16 * 1024 * 1024,
            ),
            (
                "cache_max_bytes",
                to_i128(self.cache_max_bytes),
                1024 * 1024,
                64 * 1024 * 1024 * 1024,
            ),
            (
                "max_pending_per_address",
                self.max_pending_per_address.into(),
                1,
                10_000_000,
            ),
            ("max_pending", self.max_pending.into(), 1, 10_000_000),
            (
                "header_read_timeout_secs",
                self.header_read_timeout_secs.into(),
                1,
                300,
            ),
            (
                "request_timeout_secs",
                self.request_timeout_secs.into(),
                1,
                600,
            ),
            (
                "connection_idle_timeout_secs",
                self.connection_idle_timeout_secs.into(),
                1,
                3600,
            ),
            (
                "max_connections",
                to_i128(self.max_connections),
                1,
                1_000_000,
            ),
            (
                "audit_retention_days",
                self.audit_retention_days.into(),
                1,
                3650,
            ),
            ("mail_max_attempts", self.mail_max_attempts.into(), 1, 100),
            (
                "mail_poll_interval_ms",
                self.mail_poll_interval_ms.into(),
                10,
                600_000,
            ),
            (
                "password_reset_ttl_secs",
                self.password_reset_ttl_secs.into(),
                60,
                3600,
            ),
            (
                "password_reset_requests_per_account",
                self.password_reset_requests_per_account.into(),
                1,
                1000,
            ),
            (
                "password_reset_requests_per_ip",
                self.password_reset_requests_per_ip.into(),
                1,
                1_000_000,
            ),
        ]
    }

    /// The database to use: `database_url`, or SQLite in `data_dir`.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("gatehouse.db").display()
            ),
        }
    }

    /// Whether the database is the embedded default in `data_dir`.
    pub fn uses_embedded_database(&self) -> bool {
        self.database_url.is_none()
    }

    /// The longest lifetime of any token we sign: how long a retired key stays published.
    pub fn max_token_ttl_secs(&self) -> i64 {
        self.access_token_ttl_secs.max(self.id_token_ttl_secs)
    }

    /// The effective configuration with secrets masked, for `config check` and logs.
    pub fn masked(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            if self.key_encryption_key.is_some() {
                obj.insert("key_encryption_key".into(), "********".into());
            }
            obj.insert(
                "database_url".into(),
                mask_url_password(&self.database_url()).into(),
            );
            if let Some(url) = &self.redis_url {
                obj.insert("redis_url".into(), mask_url_password(url).into());
            }
            if let Some(url) = &self.smtp_url {
                obj.insert("smtp_url".into(), mask_url_password(url).into());
            }
            if self.smtp_password.is_some() {
                obj.insert("smtp_password".into(), "********".into());
            }
        }
        value
    }
}

/// A database URL with any password replaced by `********`.
pub fn mask_url_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("********"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Most entries `trusted_proxies` may list (each request checks them all).
const MAX_TRUSTED_PROXIES: usize = 1000;

/// A `usize` setting as a number every bound can be compared with.
fn to_i128(value: usize) -> i128 {
    i128::try_from(value).unwrap_or(i128::MAX)
}

/// A list given as a TOML array or as one comma-separated string (the
/// environment's form), each item parsed with `FromStr`.
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
        OneOrMany::Many(v) => v,
    };
    items
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_name_localhost() {
        let config = Config::default().validated().unwrap();
        assert_eq!(config.issuer, "http://localhost:8080");
        assert!(config.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = Config {
            issuer: "ftp://x".into(),
            ..Config::default()
        }
        .validated()
        .unwrap_err();
        assert!(err.to_string().contains("`issuer`"), "{err}");
        let err = Config {
            signing_key_bits: 1024,
            ..Config::default()
        }
        .validated()
        .unwrap_err();
        assert!(err.to_string().contains("`signing_key_bits`"), "{err}");
        let err = Config {
            cache_namespace: String::new(),
            ..Config::default()
        }
        .validated()
        .unwrap_err();
        assert!(err.to_string().contains("`cache_namespace`"), "{err}");
    }

    /// Each numeric setting with a value just below and just above its range
    /// (`None` where the type cannot go lower).
    const OUT_OF_RANGE: &[(&str, Option<i64>, u64)] = &[
        ("key_publish_delay_secs", Some(-1), 30 * 86_400 + 1),
        ("key_refresh_interval_secs", Some(0), 86_401),
        ("access_token_ttl_secs", Some(29), 86_401),
        ("id_token_ttl_secs", Some(0), 86_401),
        ("authorization_code_ttl_secs", Some(0), 61),
        ("refresh_token_idle_ttl_secs", Some(0), 365 * 86_400 + 1),
        (
            "refresh_token_absolute_ttl_secs",
            Some(0),
            5 * 365 * 86_400 + 1,
        ),
        ("session_idle_timeout_secs", Some(0), 30 * 86_400 + 1),
        ("session_absolute_timeout_secs", Some(0), 365 * 86_400 + 1),
        ("reauthenticate_after_secs", Some(0), 86_400 + 1),
        ("argon2_memory_kib", Some(7), 4 * 1024 * 1024 + 1),
        ("argon2_iterations", Some(0), 65),
        ("argon2_parallelism", Some(0), 65),
        ("password_hash_concurrency", None, 1025),
        ("password_hash_queue", None, 100_001),
        ("login_attempts_per_account", Some(0), 1_000_001),
        ("login_attempts_per_ip", Some(0), 1_000_001),
        ("login_window_secs", Some(0), 7 * 86_400 + 1),
        ("max_body_bytes", Some(1023), 16 * 1024 * 1024 + 1),
        (
            "cache_max_bytes",
            Some(1024 * 1024 - 1),
            64 * 1024 * 1024 * 1024 + 1,
        ),
        ("max_pending_per_address", Some(0), 10_000_001),
        ("max_pending", Some(0), 10_000_001),
        ("header_read_timeout_secs", Some(0), 301),
        ("connection_idle_timeout_secs", Some(0), 3601),
        ("request_timeout_secs", Some(0), 601),
        ("max_connections", Some(0), 1_000_001),
        ("audit_retention_days", Some(0), 3651),
        ("mail_max_attempts", Some(0), 101),
        ("mail_poll_interval_ms", Some(9), 600_001),
        ("password_reset_ttl_secs", Some(59), 3601),
        ("password_reset_requests_per_account", Some(0), 1001),
        ("password_reset_requests_per_ip", Some(0), 1_000_001),
    ];

    #[test]
    fn every_number_out_of_range_is_refused_naming_its_key() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        for (key, low, high) in OUT_OF_RANGE {
            let mut values: Vec<serde_json::Value> = vec![(*high).into()];
            values.extend(low.map(serde_json::Value::from));
            for value in values {
                let mut json = defaults.clone();
                json[*key] = value.clone();
                let config: Config = serde_json::from_value(json).unwrap();
                let err = config.validated().unwrap_err();
                assert!(
                    err.to_string().contains(&format!("`{key}`")),
                    "{key}={value}: {err}"
                );
            }
        }
    }

    #[test]
    fn the_extremes_of_every_range_are_accepted() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        for (key, value, min, max) in Config::default().numeric_bounds() {
            assert!((min..=max).contains(&value), "default {key}");
            for edge in [min, max] {
                let mut json = defaults.clone();
                json[key] = i64::try_from(edge).unwrap().into();
                let config: Config = serde_json::from_value(json).unwrap();
                if let Err(e) = config.validated() {
                    panic!("{key}={edge}: {e}");
                }
            }
        }
        assert_eq!(
            Config::default().numeric_bounds().len(),
            OUT_OF_RANGE.len(),
            "every bound has an out-of-range case"
        );
    }

    #[test]
    fn trusted_proxies_parse_from_a_list_or_a_comma_separated_string() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let mut json = defaults.clone();
        json["trusted_proxies"] = "10.0.0.0/8, 192.0.2.1".into();
        let config: Config = serde_json::from_value(json).unwrap();
        let shown: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["10.0.0.0/8", "192.0.2.1/32"]);
        let mut json = defaults;
        json["trusted_proxies"] = serde_json::json!(["10.0.0.0/33"]);
        let err = serde_json::from_value::<Config>(json).err().unwrap();
        assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
    }

    #[test]
    fn postgresql_needs_a_key_encryption_key_unless_plaintext_is_allowed() {
        let postgres = Config {
            database_url: Some("postgres://db/gatehouse".into()),
            ..Config::default()
        };
        let err = postgres.clone().validated().unwrap_err().to_string();
        assert!(err.contains("`key_encryption_key`"), "{err}");
        let allowed = Config {
            allow_plaintext_keys: true,
            ..postgres.clone()
        };
        assert!(allowed.validated().is_ok());
        let configured = Config {
            key_encryption_key: Some("a secret of enough length".into()),
            ..postgres
        };
        assert!(configured.validated().is_ok());
    }

    #[test]
    fn masks_secrets() {
        let config = Config {
            database_url: Some("postgres://u:hunter2@db/x".into()),
            key_encryption_key: Some("a-very-long-secret-value".into()),
            ..Config::default()
        };
        let shown = config.masked().to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains("a-very-long-secret-value"),
            "{shown}"
        );
    }
}
