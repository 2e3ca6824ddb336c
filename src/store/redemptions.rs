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

/// What a redeemed code made: its grant, and the client that grant is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedeemedCode {
    /// The grant the redemption made.
    pub grant_id: String,
    /// The client the code was issued to (and redeemed by).
    pub client_id: String,
}

impl Store {
    /// The grant a redeemed code made and its client, if the code with this
    /// hash was redeemed and its grant still exists.
    #[tracing::instrument(skip_all)]
    pub async fn redeemed_code_grant(
        &self,
        code_hash: &[u8],
    ) -> Result<Option<RedeemedCode>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "select r.grant_id, g.client_id from redeemed_codes r \
             join grants g on g.id = r.grant_id where r.code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(grant_id, client_id)| RedeemedCode {
            grant_id,
            client_id,
        }))
    }
}
