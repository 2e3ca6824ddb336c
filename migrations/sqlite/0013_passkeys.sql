-- The WebAuthn user handle of a person: random, stable, and never their id
-- or email, so an authenticator holding it reveals nothing about the account.
create table passkey_handles (
    user_id text primary key,
    handle blob not null unique
);

-- A person's passkeys (discoverable WebAuthn credentials). `credential` is
-- the credential as webauthn-rs serialises it (public key, counter, backup
-- flags); `counter` mirrors its signature counter so that accepting a use is
-- one conditional update and a counter that goes backwards is never accepted.
create table passkeys (
    id text primary key,
    user_id text not null,
    credential_id blob not null unique,
    name text not null,
    credential text not null,
    counter bigint not null,
    backup_eligible bigint not null,
    created_at bigint not null,
    last_used_at bigint
);
create index passkeys_by_user on passkeys (user_id);
