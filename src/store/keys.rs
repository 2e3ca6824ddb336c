//! SQL for the `signing_keys` table.

use super::{Store, StoreError};

/// One stored signing key.
#[derive(Clone, sqlx::FromRow)]
pub struct KeyRow {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// PKCS#8 DER, sealed with the key-encryption key when `encrypted` is 1.
    pub private_key: Vec<u8>,
    /// 1 when `private_key` is sealed.
    pub encrypted: i64,
    /// When the key was stored (and published), Unix seconds.
    pub created_at: i64,
    /// When the key starts signing, Unix seconds.
    pub activate_at: i64,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("encrypted", &self.encrypted)
            .field("created_at", &self.created_at)
            .field("activate_at", &self.activate_at)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Stores a new key.
    #[tracing::instrument(skip_all)]
    pub async fn insert_key(&self, row: &KeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "insert into signing_keys (kid, private_key, encrypted, created_at, activate_at) \
             values ($1, $2, $3, $4, $5)",
        )
        .bind(&row.kid)
        .bind(&row.private_key)
        .bind(row.encrypted)
        .bind(row.created_at)
        .bind(row.activate_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Every stored key, by activation time.
    #[tracing::instrument(skip_all)]
    pub async fn list_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "select kid, private_key, encrypted, created_at, activate_at \
             from signing_keys order by activate_at, created_at",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Replaces a key's stored material (used when sealing plaintext keys).
    #[tracing::instrument(skip_all)]
    pub async fn update_key_material(
        &self,
        kid: &str,
        private_key: &[u8],
        encrypted: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("update signing_keys set private_key = $2, encrypted = $3 where kid = $1")
            .bind(kid)
            .bind(private_key)
            .bind(encrypted)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
