-- People who sign in. `id` is the stable OIDC subject, never the email;
-- `email` is stored trimmed and lowercased, so uniqueness ignores case.
-- `password_hash` is an argon2id PHC string, null for accounts without a password.
create table users (
    id text primary key,
    email text not null unique,
    email_verified bigint not null default 0,
    name text,
    preferred_username text,
    password_hash text,
    disabled bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);
