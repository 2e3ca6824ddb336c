//! SQL for passkeys: a person's WebAuthn user handle and their credentials.
//! A credential id is unique across every account; accepting a use of a
//! credential is one conditional update on its signature counter, so of two
//! uses racing with the same counter (a cloned authenticator) at most one is
//! accepted, and a counter never goes backwards.

use super::{Store, StoreError, Tx};

/// A passkey as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PasskeyRow {
    /// Its own id (random), what the account pages name it by.
    pub id: String,
    /// The person it signs in.
    pub user_id: String,
    /// The WebAuthn credential id.
    pub credential_id: Vec<u8>,
    /// The name the person gave it.
    pub name: String,
    /// The credential as webauthn-rs serialises it (JSON).
    pub credential: String,
    /// Its signature counter as last accepted.
    pub counter: i64,
    /// Whether it may be synced to other devices (1) or is bound to one (0).
    pub backup_eligible: i64,
    /// When it was added.
    pub created_at: i64,
    /// When it last signed the person in.
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, credential_id, name, credential, counter, backup_eligible, \
     created_at, last_used_at";

impl Store {
    /// `user_id`'s WebAuthn user handle: the stored one, else `fresh`, stored
    /// now. Of two first registrations racing, both get the one stored first.
    #[tracing::instrument(skip_all)]
    pub async fn passkey_handle(&self, user_id: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "insert into passkey_handles (user_id, handle) values ($1, $2) \
             on conflict (user_id) do nothing",
        )
        .bind(user_id)
        .bind(fresh)
        .execute(&self.writer)
        .await
        .map_err(StoreError::from_write)?;
        let (handle,): (Vec<u8>,) =
            sqlx::query_as("select handle from passkey_handles where user_id = $1")
                .bind(user_id)
                .fetch_one(&self.writer)
                .await?;
        Ok(handle)
    }

    /// `user_id`'s passkeys, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn passkeys_of(&self, user_id: &str) -> Result<Vec<PasskeyRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from passkeys where user_id = $1 order by created_at, id"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many passkeys `user_id` has.
    #[tracing::instrument(skip_all)]
    pub async fn passkey_count(&self, user_id: &str) -> Result<i64, StoreError> {
        let (count,): (i64,) = sqlx::query_as("select count(*) from passkeys where user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }

    /// The passkey with WebAuthn credential id `credential_id`, whoever's it is.
    #[tracing::instrument(skip_all)]
    pub async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from passkeys where credential_id = $1"
        )))
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// `user_id`'s WebAuthn user handle, if one was made.
    #[tracing::instrument(skip_all)]
    pub async fn passkey_handle_of(&self, user_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("select handle from passkey_handles where user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(handle,)| handle))
    }

    /// Records a use of passkey `id` with signature counter `counter` and its
    /// updated `credential`. Accepted only while the stored counter is lower
    /// — or both are 0, for authenticators that keep no counter — so a use
    /// that does not move the counter forward is refused (`false`), as is a
    /// use of a passkey removed meanwhile.
    #[tracing::instrument(skip_all)]
    pub async fn record_passkey_use(
        &self,
        id: &str,
        counter: i64,
        credential: &str,
        backup_eligible: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update passkeys set counter = $1, credential = $2, backup_eligible = $3, \
             last_used_at = $4 where id = $5 and (counter < $1 or (counter = 0 and $1 = 0))",
        )
        .bind(counter)
        .bind(credential)
        .bind(backup_eligible)
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Tx {
    /// Adds a passkey; [`StoreError::Duplicate`] when its credential id is
    /// registered already (to anyone).
    #[tracing::instrument(skip_all)]
    pub async fn insert_passkey(&mut self, row: &PasskeyRow) -> Result<(), StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into passkeys ({COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )))
        .bind(&row.id)
        .bind(&row.user_id)
        .bind(&row.credential_id)
        .bind(&row.name)
        .bind(&row.credential)
        .bind(row.counter)
        .bind(row.backup_eligible)
        .bind(row.created_at)
        .bind(row.last_used_at)
        .execute(self.conn())
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// Renames `user_id`'s passkey `id`; returns whether there was one.
    #[tracing::instrument(skip_all)]
    pub async fn rename_passkey(
        &mut self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("update passkeys set name = $1 where id = $2 and user_id = $3")
            .bind(name)
            .bind(id)
            .bind(user_id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes `user_id`'s passkey `id`; returns its name when there was one.
    #[tracing::instrument(skip_all)]
    pub async fn remove_passkey(
        &mut self,
        user_id: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        let removed: Option<(String,)> =
            sqlx::query_as("delete from passkeys where id = $1 and user_id = $2 returning name")
                .bind(id)
                .bind(user_id)
                .fetch_optional(self.conn())
                .await?;
        Ok(removed.map(|(name,)| name))
    }

    /// How many passkeys `user_id` has, as this unit of work sees it.
    #[tracing::instrument(skip_all)]
    pub async fn passkeys_left(&mut self, user_id: &str) -> Result<i64, StoreError> {
        let (count,): (i64,) = sqlx::query_as("select count(*) from passkeys where user_id = $1")
            .bind(user_id)
            .fetch_one(self.conn())
            .await?;
        Ok(count)
    }

    /// Removes every passkey of `user_id` and their user handle; returns how
    /// many passkeys there were.
    #[tracing::instrument(skip_all)]
    pub async fn remove_passkeys(&mut self, user_id: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from passkeys where user_id = $1")
            .bind(user_id)
            .execute(self.conn())
            .await?;
        sqlx::query("delete from passkey_handles where user_id = $1")
            .bind(user_id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected())
    }
}
