//! SQL for `user_signouts`: when each person was last signed out everywhere.
//! Durable, so the CLI can end sessions held in another process's cache.

use super::{AuditEvent, GrantFilter, Store, StoreError, Tx};

/// Whether a person may still use what they signed in with, read in one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountStanding {
    /// The account is disabled.
    pub disabled: bool,
    /// When the person was last signed out everywhere, if ever: sessions begun
    /// at or before it are over.
    pub signed_out_at: Option<i64>,
}

impl AccountStanding {
    /// Whether a session (or what was issued in it) begun at `session_start` may
    /// still be used.
    pub fn allows_session_from(&self, session_start: i64) -> bool {
        !self.disabled && self.signed_out_at.is_none_or(|at| session_start > at)
    }
}

impl Store {
    /// The standing of `user_id`'s account; `None` when there is no such account.
    #[tracing::instrument(skip_all)]
    pub async fn account_standing(
        &self,
        user_id: &str,
    ) -> Result<Option<AccountStanding>, StoreError> {
        let row: Option<(i64, Option<i64>)> = sqlx::query_as(
            "select u.disabled, s.at from users u \
             left join user_signouts s on s.user_id = u.id where u.id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(disabled, signed_out_at)| AccountStanding {
            disabled: disabled != 0,
            signed_out_at,
        }))
    }
}

impl Tx {
    /// Ends everything `user_id` is signed in with (DESIGN.md rule 7): every
    /// browser session begun at or before `at` and every grant of the person
    /// (refresh tokens, and access tokens with them, offline ones included),
    /// recording `audit`. The three writes are part of this unit of work, so
    /// together with the change that asked for them (a new password, a disabled
    /// or deleted account) they take effect whole or not at all. Returns how
    /// many grants were still live.
    #[tracing::instrument(skip_all)]
    pub async fn sign_out_everywhere(
        &mut self,
        user_id: &str,
        at: i64,
        audit: &AuditEvent<'_>,
    ) -> Result<usize, StoreError> {
        sqlx::query(
            "insert into user_signouts (user_id, at) values ($1, $2) \
             on conflict (user_id) do update set at = excluded.at",
        )
        .bind(user_id)
        .bind(at)
        .execute(self.conn())
        .await?;
        let revoked = self
            .revoke_grants(GrantFilter::User(user_id), at, None)
            .await?;
        // Signing out everywhere is an event even when no grant was live.
        self.record_audit(audit, at).await?;
        Ok(revoked)
    }
}
