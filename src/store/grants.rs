//! SQL for `grants` and `refresh_tokens`: token families and their rotation.
//! Writes are [`Tx`] methods, so a multi-row change (a new grant with its first
//! refresh token, a rotation) lands whole or not at all.

use super::{AccountStanding, AuditEvent, Store, StoreError, Tx};

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
    /// The public id (`sid`) of the browser session it came from.
    pub session_id: Option<String>,
    /// 1 when `offline_access` was granted: the grant outlives the session.
    pub offline: i64,
    /// When the person authenticated, Unix seconds.
    pub auth_time: i64,
    /// The person's sign-out count when the session it came from began: the
    /// grant is over once the count moved on (see [`AccountStanding::allows`]).
    pub sign_outs: i64,
    /// JSON array of authentication methods (RFC 8176).
    pub amr: String,
    /// The authentication context class the grant was issued under; empty
    /// for grants made before it was recorded.
    pub acr: String,
    /// When the grant was made.
    pub created_at: i64,
    /// When it was revoked, if it was. The one record of a grant's revocation:
    /// access tokens carrying its id are refused from then on.
    pub revoked_at: Option<i64>,
    /// The individual claims asked for with the `claims` parameter, as JSON.
    pub claims: Option<String>,
}

/// A presented refresh token with everything deciding whether it may be used,
/// read in one query: the token, its grant, and its person's account standing
/// (so a grant made in a race with "sign out everywhere" is refused too).
#[derive(Clone, Debug)]
pub struct RefreshTokenRow {
    /// The grant the token belongs to.
    pub grant: GrantRow,
    /// When the token was issued.
    pub issued_at: i64,
    /// When the token expires.
    pub expires_at: i64,
    /// When it was consumed, if it was (a second use is a reuse).
    pub used_at: Option<i64>,
    /// The person's account standing; `None` when the account is gone.
    pub account: Option<AccountStanding>,
}

#[derive(sqlx::FromRow)]
struct RefreshJoin {
    id: String,
    client_id: String,
    user_id: String,
    scope: String,
    session_id: Option<String>,
    offline: i64,
    auth_time: i64,
    sign_outs: i64,
    amr: String,
    acr: String,
    created_at: i64,
    revoked_at: Option<i64>,
    claims: Option<String>,
    issued_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    disabled: Option<i64>,
    account_sign_outs: i64,
}

impl Store {
    /// The refresh token with this hash, its grant and its account standing, used
    /// or not; `None` when there is no such token (or its grant is gone).
    #[tracing::instrument(skip_all)]
    pub async fn find_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<RefreshTokenRow>, StoreError> {
        let row: Option<RefreshJoin> = sqlx::query_as(
            "select g.id, g.client_id, g.user_id, g.scope, g.session_id, g.offline, \
             g.auth_time, g.sign_outs, g.amr, g.acr, g.created_at, g.revoked_at, g.claims, \
             r.created_at as issued_at, r.expires_at, r.used_at, \
             u.disabled, coalesce(s.sign_outs, 0) as account_sign_outs \
             from refresh_tokens r join grants g on g.id = r.grant_id \
             left join users u on u.id = g.user_id \
             left join user_signouts s on s.user_id = g.user_id where r.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| RefreshTokenRow {
            grant: GrantRow {
                id: r.id,
                client_id: r.client_id,
                user_id: r.user_id,
                scope: r.scope,
                session_id: r.session_id,
                offline: r.offline,
                auth_time: r.auth_time,
                sign_outs: r.sign_outs,
                amr: r.amr,
                acr: r.acr,
                created_at: r.created_at,
                revoked_at: r.revoked_at,
                claims: r.claims,
            },
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
            account: r.disabled.map(|disabled| AccountStanding {
                disabled: disabled != 0,
                sign_outs: r.account_sign_outs,
            }),
        }))
    }
}

impl Tx {
    /// Records a new grant.
    #[tracing::instrument(skip_all)]
    pub async fn insert_grant(&mut self, row: &GrantRow) -> Result<(), StoreError> {
        sqlx::query(
            "insert into grants (id, client_id, user_id, scope, session_id, offline, auth_time, \
             sign_outs, amr, acr, created_at, revoked_at, claims) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&row.id)
        .bind(&row.client_id)
        .bind(&row.user_id)
        .bind(&row.scope)
        .bind(&row.session_id)
        .bind(row.offline)
        .bind(row.auth_time)
        .bind(row.sign_outs)
        .bind(&row.amr)
        .bind(&row.acr)
        .bind(row.created_at)
        .bind(row.revoked_at)
        .bind(&row.claims)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// The one way to revoke grants: marks the grants `filter` picks (one grant,
    /// a session's non-offline grants, or a user's grants) revoked — their
    /// refresh tokens stop working and their access tokens introspect as
    /// inactive — and records `audit` in the same unit of work when any was
    /// still live, so neither happens without the other. Returns how many.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_grants(
        &mut self,
        filter: GrantFilter<'_>,
        now: i64,
        audit: Option<&AuditEvent<'_>>,
    ) -> Result<usize, StoreError> {
        let query = match filter {
            GrantFilter::Id(id) => sqlx::query_as(
                "update grants set revoked_at = $1 where id = $2 and revoked_at is null returning id",
            )
            .bind(now)
            .bind(id),
            GrantFilter::SessionOnline(user, session) => sqlx::query_as(
                "update grants set revoked_at = $1 \
                 where user_id = $2 and session_id = $3 and offline = 0 and revoked_at is null \
                 returning id",
            )
            .bind(now)
            .bind(user)
            .bind(session),
            GrantFilter::User(user) => sqlx::query_as(
                "update grants set revoked_at = $1 where user_id = $2 and revoked_at is null returning id",
            )
            .bind(now)
            .bind(user),
            GrantFilter::UserClient(user, client) => sqlx::query_as(
                "update grants set revoked_at = $1 \
                 where user_id = $2 and client_id = $3 and revoked_at is null returning id",
            )
            .bind(now)
            .bind(user)
            .bind(client),
        };
        let rows: Vec<(String,)> = query.fetch_all(self.conn()).await?;
        // Only a revocation that ended something is an event: replaying a dead
        // code or token again and again must not fill the audit log.
        if let Some(event) = audit
            && !rows.is_empty()
        {
            self.record_audit(event, now).await?;
        }
        Ok(rows.len())
    }

    /// Stores a new refresh token (by hash).
    #[tracing::instrument(skip_all)]
    pub async fn insert_refresh_token(
        &mut self,
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
        .execute(self.conn())
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// Consumes an unused refresh token; `false` when it was already used (or is
    /// gone). Of two concurrent uses exactly one gets `true`: the second waits for
    /// the first's row lock (PostgreSQL) or the writer (SQLite) and then finds
    /// the token used.
    #[tracing::instrument(skip_all)]
    pub async fn consume_refresh_token(
        &mut self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "update refresh_tokens set used_at = $1 where token_hash = $2 and used_at is null",
        )
        .bind(now)
        .bind(token_hash)
        .execute(self.conn())
        .await?;
        Ok(result.rows_affected() == 1)
    }
}

/// Which grants [`Tx::revoke_grants`] revokes.
#[derive(Clone, Copy, Debug)]
pub enum GrantFilter<'a> {
    /// One grant.
    Id(&'a str),
    /// A person's (first) grants of one browser session (second) that were
    /// not issued for offline access.
    SessionOnline(&'a str, &'a str),
    /// Every grant of a person.
    User(&'a str),
    /// Every grant of a person (first) for one client (second).
    UserClient(&'a str, &'a str),
}
