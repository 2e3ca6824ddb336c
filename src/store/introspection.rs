//! The read behind refresh-token introspection and revocation: one refresh
//! token together with its grant, without changing either.

use super::{GrantRow, Store, StoreError};

/// A refresh token's own state and the grant it belongs to.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshTokenState {
    /// When it expires, Unix seconds.
    pub expires_at: i64,
    /// When it was consumed by a refresh, if it was.
    pub used_at: Option<i64>,
    /// When it was issued.
    pub issued_at: i64,
    /// Its grant (client, person, scope, revocation).
    #[sqlx(flatten)]
    pub grant: GrantRow,
}

impl Store {
    /// The refresh token with hash `token_hash` and its grant, if both exist.
    /// Only reads: looking a token up never consumes it.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_token_state(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<RefreshTokenState>, StoreError> {
        Ok(sqlx::query_as(
            // `g.*`: every grant column, so the grant decodes whatever columns `GrantRow` has.
            "select r.expires_at, r.used_at, r.created_at as issued_at, g.* \
             from refresh_tokens r join grants g on g.id = r.grant_id where r.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }
}
