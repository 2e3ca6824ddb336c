//! SQL for `audit_events`: a durable record of security-relevant events.

use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::{Store, StoreError, Tx};

/// A security-relevant event to record.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    /// What happened, e.g. `refresh_token_reuse`.
    pub kind: &'a str,
    /// The person concerned, if known.
    pub user_id: Option<&'a str>,
    /// The client concerned, if known.
    pub client_id: Option<&'a str>,
    /// Free-form detail (never a secret).
    pub detail: &'a str,
}

impl<'a> AuditEvent<'a> {
    /// An event of one person's, with no client involved: what their
    /// security activity lists.
    pub fn of_person(kind: &'a str, user_id: &'a str, detail: &'a str) -> Self {
        Self {
            kind,
            user_id: Some(user_id),
            client_id: None,
            detail,
        }
    }
}

/// A stored audit event.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    /// When it happened.
    pub at: i64,
    /// What happened.
    pub kind: String,
    /// The person concerned.
    pub user_id: Option<String>,
    /// The client concerned.
    pub client_id: Option<String>,
    /// Detail.
    pub detail: String,
}

/// The insert of one event, for the store or a unit of work to run.
fn insert<'q>(event: &AuditEvent<'q>, now: i64) -> Query<'q, sqlx::Any, AnyArguments> {
    sqlx::query(
        "insert into audit_events (at, kind, user_id, client_id, detail) values ($1, $2, $3, $4, $5)",
    )
    .bind(now)
    .bind(event.kind)
    .bind(event.user_id)
    .bind(event.client_id)
    .bind(event.detail)
}

impl Tx {
    /// Appends an event as part of this unit of work: it is recorded exactly
    /// when the change it describes is.
    #[tracing::instrument(skip_all)]
    pub async fn record_audit(
        &mut self,
        event: &AuditEvent<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        insert(event, now).execute(self.conn()).await?;
        Ok(())
    }
}

impl Store {
    /// Appends an event on its own (nothing else is written with it).
    #[tracing::instrument(skip_all)]
    pub async fn record_audit(&self, event: &AuditEvent<'_>, now: i64) -> Result<(), StoreError> {
        insert(event, now).execute(&self.writer).await?;
        Ok(())
    }

    /// The most recent events, newest first; only `user_id`'s when given.
    #[tracing::instrument(skip_all)]
    pub async fn recent_audit(
        &self,
        limit: i64,
        user_id: Option<&str>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        const COLUMNS: &str = "select at, kind, user_id, client_id, detail from audit_events";
        let query = match user_id {
            Some(user_id) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{COLUMNS} where user_id = $2 order by id desc limit $1"
            )))
            .bind(limit)
            .bind(user_id.to_owned()),
            None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{COLUMNS} order by id desc limit $1"
            )))
            .bind(limit),
        };
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// `user_id`'s most recent security events, newest first: only the
    /// failed sign-in attempts when `failed_sign_ins`, else everything but them.
    #[tracing::instrument(skip_all)]
    pub async fn security_events(
        &self,
        user_id: &str,
        limit: i64,
        failed_sign_ins: bool,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let kind = if failed_sign_ins { "=" } else { "<>" };
        let sql = format!(
            "select at, kind, user_id, client_id, detail from audit_events \
             where user_id = $1 and kind {kind} $2 order by id desc limit $3"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user_id.to_owned())
            .bind(SIGN_IN_FAILED)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// The audit kind of a failed sign-in attempt at an existing account.
pub const SIGN_IN_FAILED: &str = "sign_in_failed";
