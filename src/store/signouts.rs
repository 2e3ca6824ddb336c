//! SQL for `user_signouts`: when each person was last signed out everywhere.
//! Durable, so the CLI can end sessions held in another process's cache.

use super::{Store, StoreError};

impl Store {
    /// Records that every session of `user_id` begun at or before `at` is over.
    #[tracing::instrument(skip_all)]
    pub async fn sign_out_everywhere(&self, user_id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "insert into user_signouts (user_id, at) values ($1, $2) \
             on conflict (user_id) do update set at = excluded.at",
        )
        .bind(user_id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// When `user_id` was last signed out everywhere, if ever.
    #[tracing::instrument(skip_all)]
    pub async fn last_sign_out(&self, user_id: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as("select at from user_signouts where user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(at,)| at))
    }
}
