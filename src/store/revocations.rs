//! SQL for `revoked_tokens`: ids of JWT access tokens revoked before expiry.
//! Durable, so a restart never brings a revoked token back to life.

use super::{Store, StoreError};

impl Store {
    /// Records that the access token `jti` is revoked; the row may go once `expires_at` passes.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "insert into revoked_tokens (jti, expires_at) values ($1, $2) \
             on conflict (jti) do nothing",
        )
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether the access token `jti`, or the grant it belongs to (recorded under
    /// `grant_marker`), was revoked.
    #[tracing::instrument(skip_all)]
    pub async fn is_access_token_revoked(
        &self,
        jti: &str,
        grant_marker: Option<&str>,
    ) -> Result<bool, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("select jti from revoked_tokens where jti = $1 or jti = $2 limit 1")
                .bind(jti)
                .bind(grant_marker.unwrap_or(jti))
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Forgets revocations of tokens that have expired by `now`; returns how many.
    #[tracing::instrument(skip_all)]
    pub async fn purge_expired_revocations(&self, now: i64) -> Result<u64, StoreError> {
        let result = sqlx::query("delete from revoked_tokens where expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}
