//! SQL for `user_signouts`: how many times each person was signed out
//! everywhere. Durable, so the CLI can end sessions held in another process's
//! cache. A session, code or grant records the count it began under and is over
//! once the count moved on: a count, unlike a timestamp, orders a sign-in and a
//! sign-out made within the same second.

use super::{AuditEvent, GrantFilter, Store, StoreError, Tx};

/// Whether a person may still use what they signed in with, read in one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountStanding {
    /// The account is disabled.
    pub disabled: bool,
    /// How many times the person was signed out everywhere (0 if never).
    pub sign_outs: i64,
}

impl AccountStanding {
    /// Whether a session (or what was issued in it) begun when the person's
    /// sign-out count was `sign_outs_then` may still be used: the account is
    /// active and no sign-out everywhere happened since.
    pub fn allows(&self, sign_outs_then: i64) -> bool {
        !self.disabled && self.sign_outs == sign_outs_then
    }
}

impl Store {
    /// The standing of `user_id`'s account; `None` when there is no such account.
    #[tracing::instrument(skip_all)]
    pub async fn account_standing(
        &self,
        user_id: &str,
    ) -> Result<Option<AccountStanding>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "select u.disabled, coalesce(s.sign_outs, 0) from users u \
             left join user_signouts s on s.user_id = u.id where u.id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(disabled, sign_outs)| AccountStanding {
            disabled: disabled != 0,
            sign_outs,
        }))
    }
}

impl Tx {
    /// How many times `user_id` was signed out everywhere, as this unit of
    /// work sees it (0 if never).
    #[tracing::instrument(skip_all)]
    pub async fn sign_out_count(&mut self, user_id: &str) -> Result<i64, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("select sign_outs from user_signouts where user_id = $1")
                .bind(user_id)
                .fetch_optional(self.conn())
                .await?;
        Ok(row.map_or(0, |(count,)| count))
    }

    /// Ends everything `user_id` is signed in with (DESIGN.md rule 7): every
    /// browser session begun before it (by counting the sign-out), every grant of the person
    /// (refresh tokens, and access tokens with them, offline ones included)
    /// and every live link mailed to them (a password reset), recording
    /// `audit`. The writes are part of this unit of work, so
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
            "insert into user_signouts (user_id, at, sign_outs) values ($1, $2, 1) \
             on conflict (user_id) do update \
             set at = excluded.at, sign_outs = user_signouts.sign_outs + 1",
        )
        .bind(user_id)
        .bind(at)
        .execute(self.conn())
        .await?;
        let revoked = self
            .revoke_grants(GrantFilter::User(user_id), at, None)
            .await?;
        // A link mailed before (a password reset) is of the access that ends.
        self.end_account_tokens(user_id, None, at).await?;
        // Signing out everywhere is an event even when no grant was live.
        self.record_audit(audit, at).await?;
        Ok(revoked)
    }
}
