//! Background purge of rows nothing can use any more: expired or revoked grants
//! and refresh tokens, expired redeemed-code records, access-token
//! revocations and mailed links, and audit events and delivered or failed
//! mail past their retention. Each call deletes at most
//! one bounded batch per table, each batch one short statement on the writer
//! path (an index range scan), so requests' writes interleave between batches.

use super::{Store, StoreError};

/// What may go, as of one moment.
#[derive(Clone, Copy, Debug)]
pub struct PurgeCutoffs {
    /// Now: refresh tokens, redeemed codes and revocations that expired before
    /// it are of no use.
    pub now: i64,
    /// Access tokens issued before this have expired (now − access token TTL): a
    /// grant made before it, with no refresh token that expires after it, can
    /// never have a live token again.
    pub tokens_issued_before: i64,
    /// Audit events older than this are past their retention.
    pub audit_before: i64,
}

/// Each statement deletes at most `$2` rows chosen by an indexed condition; `$1`
/// is the statement's cutoff. Order matters: refresh tokens of revoked grants go
/// before the grants, so no token is left pointing at a missing grant.
const BATCHES: [(&str, Cutoff); 9] = [
    (
        "delete from refresh_tokens where token_hash in \
         (select token_hash from refresh_tokens where expires_at < $1 limit $2)",
        Cutoff::Now,
    ),
    (
        "delete from refresh_tokens where token_hash in (select r.token_hash from refresh_tokens r \
         join grants g on g.id = r.grant_id where g.revoked_at is not null and g.revoked_at < $1 limit $2)",
        Cutoff::Now,
    ),
    (
        "delete from grants where id in (select g.id from grants g where g.revoked_at < $1 \
         and not exists (select 1 from refresh_tokens r where r.grant_id = g.id) limit $2)",
        Cutoff::Now,
    ),
    (
        "delete from grants where id in (select g.id from grants g where g.revoked_at is null \
         and g.created_at < $1 and not exists (select 1 from refresh_tokens r \
         where r.grant_id = g.id and r.expires_at >= $1) limit $2)",
        Cutoff::TokensIssued,
    ),
    (
        "delete from redeemed_codes where code_hash in \
         (select code_hash from redeemed_codes where expires_at < $1 limit $2)",
        Cutoff::Now,
    ),
    (
        "delete from revoked_tokens where jti in \
         (select jti from revoked_tokens where expires_at < $1 limit $2)",
        Cutoff::Now,
    ),
    (
        "delete from audit_events where id in (select id from audit_events where at < $1 limit $2)",
        Cutoff::Audit,
    ),
    (
        "delete from account_tokens where token_hash in \
         (select token_hash from account_tokens where expires_at < $1 limit $2)",
        Cutoff::Now,
    ),
    (
        "delete from mail_outbox where id in (select id from mail_outbox \
         where created_at < $1 and status <> 'pending' limit $2)",
        Cutoff::Audit,
    ),
];

#[derive(Clone, Copy)]
enum Cutoff {
    Now,
    TokensIssued,
    Audit,
}

impl Store {
    /// Deletes up to `batch` purgeable rows from each table; returns how many went
    /// in all. Fewer than `batch` from every table means nothing is left to purge.
    #[tracing::instrument(skip_all)]
    pub async fn purge_batch(
        &self,
        cutoffs: &PurgeCutoffs,
        batch: i64,
    ) -> Result<PurgeRound, StoreError> {
        let mut round = PurgeRound::default();
        for (statement, cutoff) in BATCHES {
            let at = match cutoff {
                Cutoff::Now => cutoffs.now,
                Cutoff::TokensIssued => cutoffs.tokens_issued_before,
                Cutoff::Audit => cutoffs.audit_before,
            };
            let deleted = sqlx::query(statement)
                .bind(at)
                .bind(batch)
                .execute(&self.writer)
                .await?
                .rows_affected();
            round.deleted += deleted;
            round.more |= i64::try_from(deleted).unwrap_or(i64::MAX) >= batch;
        }
        Ok(round)
    }
}

/// What one [`Store::purge_batch`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeRound {
    /// Rows deleted.
    pub deleted: u64,
    /// Some table filled its batch: there may be more to purge.
    pub more: bool,
}
