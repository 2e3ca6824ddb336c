-- One person's authorization of one client, from one sign-in: the family every
-- token issued from it belongs to. Revoking it revokes them all.
create table grants (
    id text primary key,
    client_id text not null,
    user_id text not null,
    scope text not null,
    session_id text,
    offline integer not null,
    auth_time integer not null,
    amr text not null,
    created_at integer not null,
    revoked_at integer
);
create index grants_session_id on grants (session_id);
create index grants_user_id on grants (user_id);

-- Refresh tokens, by SHA-256; a used one presented again revokes its grant.
create table refresh_tokens (
    token_hash blob primary key,
    grant_id text not null,
    expires_at integer not null,
    used_at integer,
    created_at integer not null
);
create index refresh_tokens_grant_id on refresh_tokens (grant_id);

-- Scopes a person has agreed to give a client.
create table consents (
    user_id text not null,
    client_id text not null,
    scope text not null,
    updated_at integer not null,
    primary key (user_id, client_id)
);

-- Security-relevant events (refresh token reuse, code replay, ...).
create table audit_events (
    id integer primary key autoincrement,
    at integer not null,
    kind text not null,
    user_id text,
    client_id text,
    detail text not null
);
