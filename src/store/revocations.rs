//! SQL for `revoked_tokens` — ids of JWT access tokens revoked before expiry,
//! durable so a restart never brings a revoked token back to life — and the one
//! query that decides whether a presented access token still stands.

use super::{Store, StoreError};

/// What the database says about a presented access token, read in one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessTokenStanding {
    /// Its `jti` was revoked.
    pub revoked: bool,
    /// The grant it names exists, is not revoked, and its person may still use
    /// it: the account is active and was not signed out everywhere since the
    /// session the grant came from began (false when it names no grant). So a grant written in a
    /// race with a sign-out everywhere is dead all the same.
    pub grant_live: bool,
    /// The client it was issued to is still registered.
    pub client_exists: bool,
}

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
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Whether `jti` was revoked, whether the grant `grant_id` is live, and
    /// whether `client_id` is still registered — one round trip, so checking a
    /// token costs the same as before grants were checked.
    #[tracing::instrument(skip_all)]
    pub async fn access_token_standing(
        &self,
        jti: &str,
        grant_id: Option<&str>,
        client_id: &str,
    ) -> Result<AccessTokenStanding, StoreError> {
        let (revoked, live, client): (i64, i64, i64) = sqlx::query_as(
            "select (select count(*) from revoked_tokens where jti = $1), \
             (select count(*) from grants g join users u on u.id = g.user_id \
              left join user_signouts s on s.user_id = g.user_id \
              where g.id = $2 and g.revoked_at is null and u.disabled = 0 \
              and g.sign_outs = coalesce(s.sign_outs, 0)), \
             (select count(*) from clients where id = $3)",
        )
        .bind(jti)
        .bind(grant_id.unwrap_or_default())
        .bind(client_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(AccessTokenStanding {
            revoked: revoked > 0,
            grant_live: grant_id.is_some() && live > 0,
            client_exists: client > 0,
        })
    }
}
