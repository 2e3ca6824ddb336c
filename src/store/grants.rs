//! SQL for `grants` and `refresh_tokens`: token families and their rotation.

use super::{Store, StoreError};

/// One `grants` row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GrantRow {
    /// Random grant id; carried in access tokens as `gid`.
    pub id: String,
    /// The client the grant is for.
    pub client_id: String,
    /// The person who granted it.
    pub user_id: String,
    /// Granted scope, space-separated.
    pub scope: String,
    /// The browser session it came from (hash of the session id).
    pub session_id: Option<String>,
    /// 1 when `offline_access` was granted: the grant outlives the session.
    pub offline: i64,
    /// When the person authenticated, Unix seconds.
    pub auth_time: i64,
    /// JSON array of authentication methods (RFC 8176).
    pub amr: String,
    /// When the grant was made.
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// The outcome of presenting a refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshUse {
    /// First use: the token is now consumed. Carries its grant id and expiry.
    Consumed {
        /// The token's grant.
        grant_id: String,
        /// When the token expired (or expires).
        expires_at: i64,
    },
    /// The token was already used: its grant id, for revoking the family.
    Reused {
        /// The token's grant.
        grant_id: String,
    },
    /// No such token.
    Unknown,
}

impl Store {
    /// Records a new grant.
    #[tracing::instrument(skip_all)]
    pub async fn insert_grant(&self, row: &GrantRow) -> Result<(), StoreError> {
        sqlx::query(
            "insert into grants (id, client_id, user_id, scope, session_id, offline, auth_time, \
             amr, created_at, revoked_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.id)
        .bind(&row.client_id)
        .bind(&row.user_id)
        .bind(&row.scope)
        .bind(&row.session_id)
        .bind(row.offline)
        .bind(row.auth_time)
        .bind(&row.amr)
        .bind(row.created_at)
        .bind(row.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One grant by id.
    #[tracing::instrument(skip_all)]
    pub async fn get_grant(&self, id: &str) -> Result<GrantRow, StoreError> {
        sqlx::query_as(
            "select id, client_id, user_id, scope, session_id, offline, auth_time, amr, \
             created_at, revoked_at from grants where id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Marks grants revoked and returns the ids that were still live. `filter`
    /// picks them: one grant, a session's non-offline grants, or a user's grants.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_grants(
        &self,
        filter: GrantFilter<'_>,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let query = match filter {
            GrantFilter::Id(id) => sqlx::query_as(
                "update grants set revoked_at = $1 where id = $2 and revoked_at is null returning id",
            )
            .bind(now)
            .bind(id),
            GrantFilter::SessionOnline(session) => sqlx::query_as(
                "update grants set revoked_at = $1 \
                 where session_id = $2 and offline = 0 and revoked_at is null returning id",
            )
            .bind(now)
            .bind(session),
            GrantFilter::User(user) => sqlx::query_as(
                "update grants set revoked_at = $1 where user_id = $2 and revoked_at is null returning id",
            )
            .bind(now)
            .bind(user),
        };
        let rows: Vec<(String,)> = query.fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Stores a new refresh token (by hash).
    #[tracing::instrument(skip_all)]
    pub async fn insert_refresh_token(
        &self,
        token_hash: &[u8],
        grant_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into refresh_tokens (token_hash, grant_id, expires_at, used_at, created_at) \
             values ($1, $2, $3, null, $4)",
        )
        .bind(token_hash)
        .bind(grant_id)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The grant a refresh token belongs to, used or not.
    #[tracing::instrument(skip_all)]
    pub async fn find_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("select grant_id from refresh_tokens where token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(grant_id,)| grant_id))
    }

    /// Consumes a refresh token atomically: of two concurrent uses exactly one
    /// gets [`RefreshUse::Consumed`]; every later use sees [`RefreshUse::Reused`].
    #[tracing::instrument(skip_all)]
    pub async fn use_refresh_token(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<RefreshUse, StoreError> {
        let consumed: Option<(String, i64)> = sqlx::query_as(
            "update refresh_tokens set used_at = $1 where token_hash = $2 and used_at is null \
             returning grant_id, expires_at",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((grant_id, expires_at)) = consumed {
            return Ok(RefreshUse::Consumed {
                grant_id,
                expires_at,
            });
        }
        let existing: Option<(String,)> =
            sqlx::query_as("select grant_id from refresh_tokens where token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match existing {
            Some((grant_id,)) => RefreshUse::Reused { grant_id },
            None => RefreshUse::Unknown,
        })
    }
}

/// Which grants [`Store::revoke_grants`] revokes.
#[derive(Clone, Copy, Debug)]
pub enum GrantFilter<'a> {
    /// One grant.
    Id(&'a str),
    /// A browser session's grants that were not issued for offline access.
    SessionOnline(&'a str),
    /// Every grant of a person.
    User(&'a str),
}
