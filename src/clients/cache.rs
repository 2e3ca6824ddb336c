//! Recently read clients, so the token, introspection and revocation endpoints
//! do not ask the database on every request (one SQLite round trip costs about
//! a quarter of a token's RSA signature). Entries live a few seconds: changes
//! made through this instance's admin API take effect at once, changes made by
//! the CLI or another instance within [`CLIENT_CACHE_SECS`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::model::Client;
use super::registry::{self, RegistryError};
use crate::store::Store;

/// How long a client read from the database is trusted, in seconds.
pub const CLIENT_CACHE_SECS: u64 = 5;

/// Above this many entries the cache starts over, so it never grows unbounded.
const MAX_ENTRIES: usize = 10_000;

/// A small time-limited map of client id → client.
#[derive(Debug, Default)]
pub struct ClientCache {
    entries: Mutex<HashMap<String, (Instant, Arc<Client>)>>,
}

impl ClientCache {
    /// The client `id`, from the cache when fresh, else from the store.
    pub async fn get(&self, store: &Store, id: &str) -> Result<Arc<Client>, RegistryError> {
        let ttl = Duration::from_secs(CLIENT_CACHE_SECS);
        if let Ok(entries) = self.entries.lock()
            && let Some((read_at, client)) = entries.get(id)
            && read_at.elapsed() < ttl
        {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(registry::find(store, id).await?);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(id.to_owned(), (Instant::now(), Arc::clone(&client)));
        }
        Ok(client)
    }

    /// Drops `id`, after it changed through this instance.
    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }
}
