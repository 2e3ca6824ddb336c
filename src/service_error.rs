//! The failure every stateful service shares: the cache or the database did
//! not answer, or there was no randomness. Nothing the requester did. Each
//! durable change is one unit of work, and the services order their writes so
//! that sending the request again finishes what a failure interrupted.

use crate::cache::CacheError;
use crate::crypto::CryptoError;
use crate::store::StoreError;

/// A failure of the state behind a service (cache, database or randomness).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Random generation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
