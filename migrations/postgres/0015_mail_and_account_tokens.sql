-- Outgoing mail. A message is written here in the same unit of work as the
-- change that causes it, and a background worker delivers it. `message` is the
-- rendered message (subject, text and HTML), sealed under the key-encryption
-- key when `sealed` is 1 (it may hold a reset link); it is cleared once sent.
-- A worker claims a due row by writing its own `claim` and a lease in
-- `claimed_until`; only the claim holder may record the outcome.
create table mail_outbox (
    id text primary key,
    kind text not null,
    recipient text not null,
    user_id text,
    message bytea,
    sealed bigint not null,
    status text not null,
    attempts bigint not null,
    next_attempt_at bigint not null,
    claimed_until bigint not null,
    claim text,
    last_error text,
    created_at bigint not null,
    sent_at bigint
);
create index mail_outbox_due on mail_outbox (status, next_attempt_at);
create index mail_outbox_created on mail_outbox (created_at);

-- Single-use links sent by mail (password reset, email verification): only
-- the SHA-256 of the 256-bit token is kept. `detail` is what the link
-- confirms (the address being verified), when it confirms something.
create table account_tokens (
    token_hash text primary key,
    user_id text not null references users (id) on delete cascade,
    purpose text not null,
    detail text,
    created_at bigint not null,
    expires_at bigint not null,
    used_at bigint
);
create index account_tokens_by_user on account_tokens (user_id, purpose);
create index account_tokens_expiry on account_tokens (expires_at);
