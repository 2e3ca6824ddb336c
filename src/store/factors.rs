//! SQL for second factors: a person's authenticator app (TOTP) and their
//! recovery codes. Accepting a code is one conditional update, so of requests
//! racing with the same code (or the same step) exactly one is accepted.

use super::{Store, StoreError, Tx};

/// A person's authenticator app as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TotpRow {
    /// The secret, sealed with the key-encryption key.
    pub secret: Vec<u8>,
    /// When the person confirmed it with a code; `None` while being set up.
    pub confirmed_at: Option<i64>,
    /// The last time step a code was accepted for.
    pub last_step: i64,
}

impl Store {
    /// `user_id`'s authenticator app, confirmed or being set up.
    #[tracing::instrument(skip_all)]
    pub async fn totp_of(&self, user_id: &str) -> Result<Option<TotpRow>, StoreError> {
        Ok(sqlx::query_as(
            "select secret, confirmed_at, last_step from totp_factors where user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores `sealed` as the secret of the authenticator app `user_id` is
    /// setting up, replacing one not yet confirmed. Returns `false` (and
    /// changes nothing) when a confirmed one exists.
    #[tracing::instrument(skip_all)]
    pub async fn begin_totp(
        &self,
        user_id: &str,
        sealed: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "insert into totp_factors (user_id, secret, confirmed_at, last_step, created_at) \
             values ($1, $2, null, -1, $3) \
             on conflict (user_id) do update set secret = excluded.secret, \
             last_step = -1, created_at = excluded.created_at \
             where totp_factors.confirmed_at is null",
        )
        .bind(user_id)
        .bind(sealed)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Accepts a code of `step` for `user_id`'s confirmed authenticator app
    /// when no code of that step or a later one was accepted before.
    #[tracing::instrument(skip_all)]
    pub async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update totp_factors set last_step = $1 \
             where user_id = $2 and confirmed_at is not null and last_step < $1",
        )
        .bind(step)
        .bind(user_id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every stored authenticator secret (sealed), with its person: for
    /// re-sealing them under a new key-encryption key.
    #[tracing::instrument(skip_all)]
    pub async fn totp_secrets(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(sqlx::query_as("select user_id, secret from totp_factors")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Replaces `user_id`'s sealed authenticator secret with `sealed` (the
    /// same secret under another key-encryption key).
    #[tracing::instrument(skip_all)]
    pub async fn reseal_totp_secret(&self, user_id: &str, sealed: &[u8]) -> Result<(), StoreError> {
        sqlx::query("update totp_factors set secret = $1 where user_id = $2")
            .bind(sealed)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// How many unused recovery codes `user_id` has.
    #[tracing::instrument(skip_all)]
    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64, StoreError> {
        let (left,): (i64,) = sqlx::query_as(
            "select count(*) from recovery_codes where user_id = $1 and used_at is null",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(left)
    }
}

impl Tx {
    /// Confirms `user_id`'s authenticator app being set up with the secret
    /// `sealed`, with a code of `step`. Returns `false` when that secret is
    /// not the one being set up (confirmed meanwhile, replaced by a new set-up
    /// in another tab, or removed).
    #[tracing::instrument(skip_all)]
    pub async fn confirm_totp(
        &mut self,
        user_id: &str,
        sealed: &[u8],
        step: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update totp_factors set confirmed_at = $1, last_step = $2 \
             where user_id = $3 and secret = $4 and confirmed_at is null",
        )
        .bind(now)
        .bind(step)
        .bind(user_id)
        .bind(sealed)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes `user_id`'s authenticator app and recovery codes. Returns
    /// whether there was a confirmed app.
    #[tracing::instrument(skip_all)]
    pub async fn remove_second_factors(&mut self, user_id: &str) -> Result<bool, StoreError> {
        let removed: Option<(Option<i64>,)> =
            sqlx::query_as("delete from totp_factors where user_id = $1 returning confirmed_at")
                .bind(user_id)
                .fetch_optional(self.conn())
                .await?;
        sqlx::query("delete from recovery_codes where user_id = $1")
            .bind(user_id)
            .execute(self.conn())
            .await?;
        Ok(removed.is_some_and(|(confirmed_at,)| confirmed_at.is_some()))
    }

    /// Replaces `user_id`'s recovery codes with `hashes`: the old set stops working.
    #[tracing::instrument(skip_all)]
    pub async fn replace_recovery_codes(
        &mut self,
        user_id: &str,
        hashes: &[Vec<u8>],
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("delete from recovery_codes where user_id = $1")
            .bind(user_id)
            .execute(self.conn())
            .await?;
        for hash in hashes {
            sqlx::query(
                "insert into recovery_codes (user_id, code_hash, used_at, created_at) \
                 values ($1, $2, null, $3)",
            )
            .bind(user_id)
            .bind(hash.as_slice())
            .bind(now)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    /// Uses `user_id`'s recovery code with hash `hash`, if it is unused.
    #[tracing::instrument(skip_all)]
    pub async fn use_recovery_code(
        &mut self,
        user_id: &str,
        hash: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update recovery_codes set used_at = $1 \
             where user_id = $2 and code_hash = $3 and used_at is null",
        )
        .bind(now)
        .bind(user_id)
        .bind(hash)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
