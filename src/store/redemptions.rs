//! SQL for `redeemed_codes`: the durable record that an authorization code was
//! redeemed and which grant it made. Its primary key is the atomic step of a
//! redemption (DESIGN.md rule 3).

use super::{Store, StoreError, Tx};

impl Tx {
    /// Records that the code with this hash made `grant_id`. Fails with
    /// [`StoreError::Duplicate`] when the code was already redeemed — also when
    /// the other redemption is still in flight: PostgreSQL holds this insert until
    /// the first commits, SQLite's single writer runs them one after the other.
    #[tracing::instrument(skip_all)]
    pub async fn insert_redeemed_code(
        &mut self,
        code_hash: &[u8],
        grant_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into redeemed_codes (code_hash, grant_id, expires_at) values ($1, $2, $3)",
        )
        .bind(code_hash)
        .bind(grant_id)
        .bind(expires_at)
        .execute(self.conn())
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }
}

impl Store {
    /// The grant a redeemed code made, if the code with this hash was redeemed.
    #[tracing::instrument(skip_all)]
    pub async fn redeemed_code_grant(
        &self,
        code_hash: &[u8],
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("select grant_id from redeemed_codes where code_hash = $1")
                .bind(code_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(grant_id,)| grant_id))
    }
}
