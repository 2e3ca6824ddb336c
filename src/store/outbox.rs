//! SQL for `mail_outbox`: messages waiting to be delivered, and what became of
//! them. Messages are added inside the unit of work that causes them
//! ([`Tx::enqueue_mail`]); delivery workers claim due rows atomically
//! ([`Store::claim_mail`]) so several instances never send one message twice
//! at the same time, and only the claim holder records the outcome.

use super::{Backend, Store, StoreError, Tx, changed_a_row};

/// A message to add to the outbox.
#[derive(Debug)]
pub struct NewMail<'a> {
    /// Its id (random).
    pub id: &'a str,
    /// What it is about (`password_reset`, `password_changed`, …).
    pub kind: &'a str,
    /// The address it goes to.
    pub recipient: &'a str,
    /// The person it is about, if any.
    pub user_id: Option<&'a str>,
    /// The rendered message, sealed when `sealed`.
    pub message: &'a [u8],
    /// Whether `message` is sealed under the key-encryption key.
    pub sealed: bool,
}

/// A message a worker claimed for one delivery attempt.
#[derive(Clone, sqlx::FromRow)]
pub struct ClaimedMail {
    /// Its id.
    pub id: String,
    /// What it is about.
    pub kind: String,
    /// The address it goes to.
    pub recipient: String,
    /// The rendered message as stored.
    pub message: Option<Vec<u8>>,
    /// 1 when `message` is sealed.
    pub sealed: i64,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// When it was written, Unix seconds.
    pub created_at: i64,
}

impl std::fmt::Debug for ClaimedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// A message as operators see it: never its content.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct MailRow {
    /// Its id.
    pub id: String,
    /// What it is about.
    pub kind: String,
    /// The address it goes to.
    pub recipient: String,
    /// The person it is about, if any.
    pub user_id: Option<String>,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Delivery attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending messages), Unix seconds.
    pub next_attempt_at: i64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was written, Unix seconds.
    pub created_at: i64,
    /// When it was delivered, Unix seconds.
    pub sent_at: Option<i64>,
}

/// Message states as stored.
const PENDING: &str = "pending";
const SENT: &str = "sent";
const FAILED: &str = "failed";

/// Every state a message can be in, for operators to filter by.
pub const MAIL_STATUSES: [&str; 3] = [PENDING, SENT, FAILED];

impl Tx {
    /// Adds `mail` to the outbox, due now, as part of this unit of work: it
    /// exists exactly when the change that causes it does.
    #[tracing::instrument(skip_all)]
    pub async fn enqueue_mail(&mut self, mail: &NewMail<'_>, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "insert into mail_outbox (id, kind, recipient, user_id, message, sealed, status, \
             attempts, next_attempt_at, claimed_until, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, 0, $8, 0, $8)",
        )
        .bind(mail.id)
        .bind(mail.kind)
        .bind(mail.recipient)
        .bind(mail.user_id)
        .bind(mail.message)
        .bind(i64::from(mail.sealed))
        .bind(PENDING)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// Claims the pending message due longest at `now` that no one else has
    /// claimed, for `lease_secs`: it gets `claim` and one more attempt, in one
    /// statement (the uncorrelated subquery picks one row, once). On
    /// PostgreSQL a row another instance is claiming is skipped
    /// (`for update skip locked`) and the update re-checks that the row is
    /// still unclaimed; SQLite has one writer. So a message is in at most one
    /// worker's hands at a time.
    #[tracing::instrument(skip_all)]
    pub async fn claim_mail(
        &self,
        claim: &str,
        now: i64,
        lease_secs: i64,
    ) -> Result<Option<ClaimedMail>, StoreError> {
        let locking = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " for update skip locked",
        };
        let due = format!("status = '{PENDING}' and next_attempt_at <= $3 and claimed_until <= $3");
        let sql = format!(
            "update mail_outbox set claim = $1, claimed_until = $2, attempts = attempts + 1 \
             where id = (select id from mail_outbox where {due} \
             order by next_attempt_at limit 1{locking}) and {due} \
             returning id, kind, recipient, message, sealed, attempts, created_at"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(claim)
            .bind(now.saturating_add(lease_secs))
            .bind(now)
            .fetch_optional(&self.writer)
            .await?)
    }

    /// Records that message `id`, claimed as `claim`, was delivered: its
    /// content is cleared (it may hold a link). `false` when the claim was
    /// lost (its lease ran out and another worker took it).
    #[tracing::instrument(skip_all)]
    pub async fn mail_sent(&self, id: &str, claim: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update mail_outbox set status = $1, message = null, sent_at = $2, claim = null, \
             claimed_until = 0, last_error = null where id = $3 and claim = $4",
        )
        .bind(SENT)
        .bind(now)
        .bind(id)
        .bind(claim)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that an attempt at message `id`, claimed as `claim`, failed
    /// with `error`: the next one is due at `retry_at`, or — when `give_up` —
    /// the message is kept as failed for operators. `false` when the claim was
    /// lost.
    #[tracing::instrument(skip_all)]
    pub async fn mail_failed(
        &self,
        id: &str,
        claim: &str,
        error: &str,
        retry_at: i64,
        give_up: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update mail_outbox set status = $1, next_attempt_at = $2, last_error = $3, \
             claim = null, claimed_until = 0 where id = $4 and claim = $5",
        )
        .bind(if give_up { FAILED } else { PENDING })
        .bind(retry_at)
        .bind(error)
        .bind(id)
        .bind(claim)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The newest `limit` messages, optionally only those with `status`.
    #[tracing::instrument(skip_all)]
    pub async fn list_mail(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<MailRow>, StoreError> {
        const COLUMNS: &str = "select id, kind, recipient, user_id, status, attempts, \
             next_attempt_at, last_error, created_at, sent_at from mail_outbox";
        let query = match status {
            Some(status) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{COLUMNS} where status = $2 order by created_at desc, id limit $1"
            )))
            .bind(limit)
            .bind(status.to_owned()),
            None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{COLUMNS} order by created_at desc, id limit $1"
            )))
            .bind(limit),
        };
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Makes failed message `id` due again at `now` with a fresh count of
    /// attempts. [`StoreError::NotFound`] when no failed message has that id
    /// (a sent one has no content left to send).
    #[tracing::instrument(skip_all)]
    pub async fn retry_mail(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "update mail_outbox set status = $1, attempts = 0, next_attempt_at = $2, \
             claimed_until = 0, claim = null where id = $3 and status = $4",
        )
        .bind(PENDING)
        .bind(now)
        .bind(id)
        .bind(FAILED)
        .execute(&self.writer)
        .await?;
        changed_a_row(&done)
    }
}
