//! SQL for `account_tokens`: the single-use links sent by mail. Only the hash
//! of a token is stored (DESIGN.md rule 1); taking one is a conditional
//! update, so of any number of parallel uses exactly one succeeds.

use super::{Store, StoreError, Tx};

/// A live (unused, unexpired) token, as its landing page reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountTokenRow {
    /// The person it was sent to.
    pub user_id: String,
}

impl Store {
    /// The live token of `purpose` whose hash is `token_hash`, if any.
    #[tracing::instrument(skip_all)]
    pub async fn live_account_token(
        &self,
        token_hash: &str,
        purpose: &str,
        now: i64,
    ) -> Result<Option<AccountTokenRow>, StoreError> {
        Ok(sqlx::query_as(
            "select user_id from account_tokens \
             where token_hash = $1 and purpose = $2 and used_at is null and expires_at > $3",
        )
        .bind(token_hash)
        .bind(purpose)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }
}

impl Tx {
    /// Stores a new token of `purpose` for `user_id` and, in the same unit of
    /// work, ends every earlier live one of the same purpose: asking again
    /// invalidates the link sent before.
    #[tracing::instrument(skip_all)]
    pub async fn replace_account_token(
        &mut self,
        token_hash: &str,
        user_id: &str,
        purpose: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.end_account_tokens(user_id, Some(purpose), now).await?;
        sqlx::query(
            "insert into account_tokens (token_hash, user_id, purpose, created_at, expires_at) \
             values ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(purpose)
        .bind(now)
        .bind(expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Uses the live token of `purpose` whose hash is `token_hash`: marks it
    /// used and returns what it was for, or `None` when it is unknown, used or
    /// expired. One conditional update, so a token is taken at most once
    /// however many requests race for it.
    #[tracing::instrument(skip_all)]
    pub async fn take_account_token(
        &mut self,
        token_hash: &str,
        purpose: &str,
        now: i64,
    ) -> Result<Option<AccountTokenRow>, StoreError> {
        Ok(sqlx::query_as(
            "update account_tokens set used_at = $1 \
             where token_hash = $2 and purpose = $3 and used_at is null and expires_at > $1 \
             returning user_id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(purpose)
        .fetch_optional(self.conn())
        .await?)
    }

    /// Ends every live token of `user_id` (marks them used): of `purpose`
    /// only, or of every purpose.
    #[tracing::instrument(skip_all)]
    pub async fn end_account_tokens(
        &mut self,
        user_id: &str,
        purpose: Option<&str>,
        now: i64,
    ) -> Result<u64, StoreError> {
        let query = match purpose {
            Some(purpose) => sqlx::query(
                "update account_tokens set used_at = $1 \
                 where user_id = $2 and used_at is null and purpose = $3",
            )
            .bind(now)
            .bind(user_id.to_owned())
            .bind(purpose.to_owned()),
            None => sqlx::query(
                "update account_tokens set used_at = $1 where user_id = $2 and used_at is null",
            )
            .bind(now)
            .bind(user_id.to_owned()),
        };
        Ok(query.execute(self.conn()).await?.rows_affected())
    }
}
