//! SQL for the `users` table. Rows are plain columns; `crate::users` turns
//! them into the domain type.

use super::{Store, StoreError, Tx, changed_a_row};

/// One `users` row. `email` is already normalised; flags are 0 or 1.
#[derive(Clone, sqlx::FromRow)]
pub struct UserRow {
    /// The stable subject identifier.
    pub id: String,
    /// Trimmed, lowercased email address; unique.
    pub email: String,
    /// 1 when the address is known to belong to the person.
    pub email_verified: i64,
    /// Full name, if known.
    pub name: Option<String>,
    /// The name the person likes to be called by (OIDC `preferred_username`).
    pub preferred_username: Option<String>,
    /// argon2id PHC string; none for accounts without a password.
    pub password_hash: Option<String>,
    /// 1 when the account may not sign in.
    pub disabled: i64,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
    /// The other standard claims the person has, as a JSON object.
    pub claims: String,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct UserWithSignOuts {
    #[sqlx(flatten)]
    user: UserRow,
    sign_outs: i64,
}

const COLUMNS: &str = "id, email, email_verified, name, preferred_username, password_hash, \
     disabled, created_at, updated_at, claims";

impl Store {
    /// Adds a new user; [`StoreError::Duplicate`] when the email is taken.
    #[tracing::instrument(skip_all)]
    pub async fn insert_user(&self, row: &UserRow) -> Result<(), StoreError> {
        sqlx::query(
            "insert into users (id, email, email_verified, name, preferred_username, \
             password_hash, disabled, created_at, updated_at, claims) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.id)
        .bind(&row.email)
        .bind(row.email_verified)
        .bind(&row.name)
        .bind(&row.preferred_username)
        .bind(&row.password_hash)
        .bind(row.disabled)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(&row.claims)
        .execute(&self.writer)
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// One user by id.
    #[tracing::instrument(skip_all)]
    pub async fn get_user(&self, id: &str) -> Result<UserRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from users where id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// The user with this (already normalised) email, if any, with how many
    /// times they were signed out everywhere, read in the same query (so the
    /// count is never newer than the password hash beside it).
    #[tracing::instrument(skip_all)]
    pub async fn get_user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<(UserRow, i64)>, StoreError> {
        let row: Option<UserWithSignOuts> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS}, coalesce(s.sign_outs, 0) as sign_outs from users \
             left join user_signouts s on s.user_id = users.id where email = $1"
        )))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.user, r.sign_outs)))
    }

    /// Every user, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from users order by created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Replaces the user's password hash with `new` only if it is still
    /// `old` (compare-and-set), so an upgrade of the hash's parameters can never
    /// undo a password change that happened meanwhile. Returns whether it did.
    #[tracing::instrument(skip_all)]
    pub async fn replace_password_hash(
        &self,
        id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let result =
            sqlx::query("update users set password_hash = $3 where id = $1 and password_hash = $2")
                .bind(id)
                .bind(old)
                .bind(new)
                .execute(&self.writer)
                .await
                .map_err(StoreError::from_write)?;
        Ok(result.rows_affected() > 0)
    }
}

impl Tx {
    /// One user by id, locked until this unit of work ends: a read-modify-write
    /// made through it can never write back a stale copy over a concurrent change.
    #[tracing::instrument(skip_all)]
    pub async fn user_for_update(&mut self, id: &str) -> Result<UserRow, StoreError> {
        self.row_for_update("users", COLUMNS, id).await
    }

    /// Overwrites every column of an existing user but `created_at`;
    /// [`StoreError::Duplicate`] when the new email is taken.
    #[tracing::instrument(skip_all)]
    pub async fn update_user(&mut self, row: &UserRow) -> Result<(), StoreError> {
        let result = sqlx::query(
            "update users set email = $2, email_verified = $3, name = $4, \
             preferred_username = $5, password_hash = $6, disabled = $7, updated_at = $8, \
             claims = $9 where id = $1",
        )
        .bind(&row.id)
        .bind(&row.email)
        .bind(row.email_verified)
        .bind(&row.name)
        .bind(&row.preferred_username)
        .bind(&row.password_hash)
        .bind(row.disabled)
        .bind(row.updated_at)
        .bind(&row.claims)
        .execute(self.conn())
        .await
        .map_err(StoreError::from_write)?;
        changed_a_row(&result)
    }

    /// Removes a user.
    #[tracing::instrument(skip_all)]
    pub async fn delete_user(&mut self, id: &str) -> Result<(), StoreError> {
        self.remove_second_factors(id).await?;
        self.remove_passkeys(id).await?;
        let result = sqlx::query("delete from users where id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        changed_a_row(&result)
    }
}
