//! SQL for `consents`: what a person agreed to give each client.

use super::{Store, StoreError};

impl Store {
    /// The scope `user_id` has consented to for `client_id`, if any.
    #[tracing::instrument(skip_all)]
    pub async fn get_consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("select scope from consents where user_id = $1 and client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(scope,)| scope))
    }

    /// Records (or replaces) the consented scope.
    #[tracing::instrument(skip_all)]
    pub async fn put_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into consents (user_id, client_id, scope, updated_at) values ($1, $2, $3, $4) \
             on conflict (user_id, client_id) do update set scope = excluded.scope, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
