-- Registered OAuth clients. List fields are JSON arrays of strings.
create table clients (
    id text primary key,
    name text not null,
    kind text not null,
    secret_hash blob,
    redirect_uris text not null,
    post_logout_redirect_uris text not null,
    grant_types text not null,
    scopes text not null,
    token_endpoint_auth_method text not null,
    first_party integer not null default 0,
    created_at integer not null,
    updated_at integer not null
);

-- RS256 signing keys (PKCS#8 DER, AES-GCM sealed when `encrypted` = 1).
create table signing_keys (
    kid text primary key,
    private_key blob not null,
    encrypted integer not null,
    created_at integer not null,
    activate_at integer not null
);

-- Revoked JWT access tokens, kept until the token would have expired anyway.
create table revoked_tokens (
    jti text primary key,
    expires_at integer not null
);
create index revoked_tokens_expires_at on revoked_tokens (expires_at);
