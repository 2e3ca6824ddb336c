//! SQL for the `clients` table. Rows are plain columns; `crate::clients` turns
//! them into the domain type.

use super::{Store, StoreError, Tx, changed_a_row};

/// One `clients` row. List columns hold JSON arrays; `first_party`,
/// `introspect_any` and `require_mfa` are 0 or 1.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClientRow {
    /// The public `client_id`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `confidential` or `public`.
    pub kind: String,
    /// SHA-256 of the client secret; none for public clients.
    pub secret_hash: Option<Vec<u8>>,
    /// JSON array of registered redirect URIs.
    pub redirect_uris: String,
    /// JSON array of registered post-logout redirect URIs.
    pub post_logout_redirect_uris: String,
    /// JSON array of allowed grant types.
    pub grant_types: String,
    /// JSON array of allowed scopes.
    pub scopes: String,
    /// How the client authenticates at the token endpoint.
    pub token_endpoint_auth_method: String,
    /// 1 when consent may be skipped for this client.
    pub first_party: i64,
    /// 1 when the client may introspect tokens issued to other clients.
    pub introspect_any: i64,
    /// 1 when everyone signing in to the client must use more than a password.
    pub require_mfa: i64,
    /// When its secret or permissions last changed, Unix seconds; none since registration.
    pub credentials_changed_at: Option<i64>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, kind, secret_hash, redirect_uris, post_logout_redirect_uris, \
     grant_types, scopes, token_endpoint_auth_method, first_party, introspect_any, \
     require_mfa, credentials_changed_at, created_at, updated_at";

impl Store {
    /// Adds a new client.
    #[tracing::instrument(skip_all)]
    pub async fn insert_client(&self, row: &ClientRow) -> Result<(), StoreError> {
        sqlx::query(
            "insert into clients (id, name, kind, secret_hash, redirect_uris, \
             post_logout_redirect_uris, grant_types, scopes, token_endpoint_auth_method, \
             first_party, introspect_any, require_mfa, credentials_changed_at, created_at, \
             updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.kind)
        .bind(&row.secret_hash)
        .bind(&row.redirect_uris)
        .bind(&row.post_logout_redirect_uris)
        .bind(&row.grant_types)
        .bind(&row.scopes)
        .bind(&row.token_endpoint_auth_method)
        .bind(row.first_party)
        .bind(row.introspect_any)
        .bind(row.require_mfa)
        .bind(row.credentials_changed_at)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// One client by `client_id`.
    #[tracing::instrument(skip_all)]
    pub async fn get_client(&self, id: &str) -> Result<ClientRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from clients where id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Every client, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_clients(&self) -> Result<Vec<ClientRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from clients order by created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Tx {
    /// Removes a client with everything issued to it: its grants (so their access
    /// tokens stop passing), their refresh tokens and redeemed-code records, and
    /// the consents people gave it.
    #[tracing::instrument(skip_all)]
    pub async fn delete_client(&mut self, id: &str) -> Result<(), StoreError> {
        for statement in [
            "delete from refresh_tokens where grant_id in (select id from grants where client_id = $1)",
            "delete from redeemed_codes where grant_id in (select id from grants where client_id = $1)",
            "delete from grants where client_id = $1",
            "delete from consents where client_id = $1",
        ] {
            sqlx::query(statement).bind(id).execute(self.conn()).await?;
        }
        let result = sqlx::query("delete from clients where id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        changed_a_row(&result)
    }

    /// One client by id, locked until this unit of work ends: a read-modify-write
    /// made through it can never write back a stale copy over a concurrent change.
    #[tracing::instrument(skip_all)]
    pub async fn client_for_update(&mut self, id: &str) -> Result<ClientRow, StoreError> {
        self.row_for_update("clients", COLUMNS, id).await
    }

    /// Overwrites every column of an existing client.
    #[tracing::instrument(skip_all)]
    pub async fn update_client(&mut self, row: &ClientRow) -> Result<(), StoreError> {
        let result = sqlx::query(
            "update clients set name = $2, kind = $3, secret_hash = $4, redirect_uris = $5, \
             post_logout_redirect_uris = $6, grant_types = $7, scopes = $8, \
             token_endpoint_auth_method = $9, first_party = $10, introspect_any = $11, \
             require_mfa = $12, credentials_changed_at = $13, updated_at = $14 where id = $1",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.kind)
        .bind(&row.secret_hash)
        .bind(&row.redirect_uris)
        .bind(&row.post_logout_redirect_uris)
        .bind(&row.grant_types)
        .bind(&row.scopes)
        .bind(&row.token_endpoint_auth_method)
        .bind(row.first_party)
        .bind(row.introspect_any)
        .bind(row.require_mfa)
        .bind(row.credentials_changed_at)
        .bind(row.updated_at)
        .execute(self.conn())
        .await?;
        changed_a_row(&result)
    }
}
