//! Where the key-encryption key comes from, so that signing keys are never
//! stored in plaintext by default (DESIGN.md rules 1 and 12: a copy of the
//! database alone lets no one in).
//!
//! - `key_encryption_key` configured: derived from it (what several instances
//!   sharing one PostgreSQL use; `Config::validated` refuses PostgreSQL without
//!   it unless `allow_plaintext_keys` says otherwise).
//! - Otherwise, unless `allow_plaintext_keys` is set: a random 256-bit secret
//!   generated on first use into `key-encryption-key` in the data directory,
//!   readable by its owner only, and never stored in the database.

use std::fs::{self, OpenOptions};
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::key_encryption::KeyEncryptionKey;
use super::secret::random_string;
use crate::config::Config;

/// Name of the generated secret's file inside `data_dir`.
pub const GENERATED_FILE_NAME: &str = "key-encryption-key";

/// Where the key in use came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekOrigin {
    /// `key_encryption_key` in the configuration.
    Configured,
    /// The secret generated into this file.
    Generated(PathBuf),
    /// None: `allow_plaintext_keys` is set and no key is configured.
    PlaintextAllowed,
}

/// The key-encryption key for this start, and what else may have sealed keys.
#[derive(Debug)]
pub struct KekChoice {
    /// The key that seals new signing keys and opens existing ones.
    pub key: Option<KeyEncryptionKey>,
    /// Where it came from.
    pub origin: KekOrigin,
    /// The generated file's key when a configured key now takes over from it:
    /// keys sealed with it are re-sealed under the configured one at start.
    pub superseded: Option<KeyEncryptionKey>,
}

/// Why no key-encryption key could be set up.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The generated file could not be read or written.
    #[error("key-encryption key file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong, for the operator.
        reason: String,
    },
    /// The key could not be derived.
    #[error(transparent)]
    Crypto(#[from] super::CryptoError),
}

/// Picks the key-encryption key as the module documentation describes,
/// generating the file when it is needed and missing.
pub fn choose(config: &Config) -> Result<KekChoice, KekError> {
    let path = config.data_dir.join(GENERATED_FILE_NAME);
    if let Some(secret) = &config.key_encryption_key {
        let superseded = if path.exists() {
            Some(KeyEncryptionKey::derive(&read(&path)?)?)
        } else {
            None
        };
        return Ok(KekChoice {
            key: Some(KeyEncryptionKey::derive(secret)?),
            origin: KekOrigin::Configured,
            superseded,
        });
    }
    if config.allow_plaintext_keys {
        return Ok(KekChoice {
            key: None,
            origin: KekOrigin::PlaintextAllowed,
            superseded: None,
        });
    }
    let secret = read_or_generate(&path)?;
    Ok(KekChoice {
        key: Some(KeyEncryptionKey::derive(&secret)?),
        origin: KekOrigin::Generated(path),
        superseded: None,
    })
}

fn file_error(path: &Path, reason: impl Into<String>) -> KekError {
    KekError::File {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// The secret in `path`, refusing a file that others than its owner may read.
fn read(path: &Path) -> Result<String, KekError> {
    #[cfg(unix)]
    {
        let mode = fs::metadata(path)
            .map_err(|e| file_error(path, e.to_string()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(file_error(
                path,
                format!(
                    "is readable by others (mode {:o}); make it owner-only with chmod 600",
                    mode & 0o777
                ),
            ));
        }
    }
    let secret = fs::read_to_string(path).map_err(|e| file_error(path, e.to_string()))?;
    let secret = secret.trim();
    if secret.len() < 32 {
        return Err(file_error(
            path,
            "is empty or truncated; restore it from a backup (keys sealed with it cannot be opened without it)",
        ));
    }
    Ok(secret.to_owned())
}

/// Reads the generated secret, creating it first if there is none. The file
/// appears whole or not at all (written aside, then hard-linked into place), so
/// two processes starting together end up with the same secret.
fn read_or_generate(path: &Path) -> Result<String, KekError> {
    if path.exists() {
        return read(path);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| file_error(dir, e.to_string()))?;
    let secret = random_string(32)?;
    let staging = dir.join(format!(".{GENERATED_FILE_NAME}.{}", random_string(9)?));
    let written = write_owner_only(&staging, &secret);
    let linked = written.and_then(|()| fs::hard_link(&staging, path));
    let _ = fs::remove_file(&staging);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a key-encryption key for signing keys at rest; back it up with the database");
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(file_error(path, e.to_string())),
    }
}

fn write_owner_only(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> Config {
        Config {
            data_dir: dir.to_owned(),
            ..Config::default()
        }
    }

    #[test]
    fn the_generated_secret_is_owner_only_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = choose(&config_in(dir.path())).unwrap();
        let path = dir.path().join(GENERATED_FILE_NAME);
        assert_eq!(first.origin, KekOrigin::Generated(path.clone()));
        #[cfg(unix)]
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let sealed = first.key.unwrap().seal("kid", b"secret").unwrap();
        let again = choose(&config_in(dir.path())).unwrap();
        assert_eq!(again.key.unwrap().open("kid", &sealed).unwrap(), b"secret");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        choose(&config_in(dir.path())).unwrap();
        let path = dir.path().join(GENERATED_FILE_NAME);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = choose(&config_in(dir.path())).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn a_configured_key_supersedes_the_generated_one() {
        let dir = tempfile::tempdir().unwrap();
        choose(&config_in(dir.path())).unwrap();
        let config = Config {
            key_encryption_key: Some("an operator-chosen secret".into()),
            ..config_in(dir.path())
        };
        let choice = choose(&config).unwrap();
        assert_eq!(choice.origin, KekOrigin::Configured);
        assert!(choice.superseded.is_some());
    }

    #[test]
    fn plaintext_only_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            allow_plaintext_keys: true,
            ..config_in(dir.path())
        };
        let choice = choose(&config).unwrap();
        assert!(choice.key.is_none());
        assert!(!dir.path().join(GENERATED_FILE_NAME).exists());
    }
}
