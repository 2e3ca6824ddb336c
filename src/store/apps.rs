//! SQL for what a person has given apps: their consents and live grants, read
//! for the account area's "apps with access", forgetting a consent, and
//! counting removals of an app's access.

use super::{Store, StoreError, Tx};

/// The most live grants read for one person: far more than anyone holds
/// (each is a sign-in to an app that is still in use), so the read is bounded.
const MAX_GRANTS_READ: i64 = 1000;

/// One consent of a person.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConsentRow {
    /// The app.
    pub client_id: String,
    /// What the person agreed to, space-separated.
    pub scope: String,
    /// When they last agreed.
    pub updated_at: i64,
}

/// One live grant of a person, with when a token was last issued from it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LiveGrantRow {
    /// The app.
    pub client_id: String,
    /// What the grant allows, space-separated.
    pub scope: String,
    /// When it was made.
    pub created_at: i64,
    /// When its newest refresh token was issued (its last refresh), if any.
    pub last_refreshed_at: Option<i64>,
}

impl Store {
    /// Every consent `user_id` gave.
    #[tracing::instrument(skip_all)]
    pub async fn consents_of(&self, user_id: &str) -> Result<Vec<ConsentRow>, StoreError> {
        Ok(
            sqlx::query_as("select client_id, scope, updated_at from consents where user_id = $1")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The newest live (unrevoked) grants of `user_id`, at most a thousand.
    #[tracing::instrument(skip_all)]
    pub async fn live_grants_of(&self, user_id: &str) -> Result<Vec<LiveGrantRow>, StoreError> {
        Ok(sqlx::query_as(
            "select g.client_id, g.scope, g.created_at, \
             (select max(r.created_at) from refresh_tokens r where r.grant_id = g.id) as last_refreshed_at \
             from grants g where g.user_id = $1 and g.revoked_at is null \
             order by g.created_at desc limit $2",
        )
        .bind(user_id)
        .bind(MAX_GRANTS_READ)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// How many times `user_id` removed `client_id`'s access (0 if never).
    #[tracing::instrument(skip_all)]
    pub async fn app_access_removals(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<i64, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "select removals from app_access_removals where user_id = $1 and client_id = $2",
        )
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or(0, |(count,)| count))
    }
}

impl Tx {
    /// Counts one more removal of `client_id`'s access by `user_id`.
    #[tracing::instrument(skip_all)]
    pub async fn count_app_access_removal(
        &mut self,
        user_id: &str,
        client_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into app_access_removals (user_id, client_id, removals) values ($1, $2, 1) \
             on conflict (user_id, client_id) do update \
             set removals = app_access_removals.removals + 1",
        )
        .bind(user_id)
        .bind(client_id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Forgets what `user_id` agreed to give `client_id`, so the next sign-in
    /// to it asks again. Returns whether there was a consent.
    #[tracing::instrument(skip_all)]
    pub async fn forget_consent(
        &mut self,
        user_id: &str,
        client_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from consents where user_id = $1 and client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
