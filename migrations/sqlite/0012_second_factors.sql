-- A person's authenticator app (TOTP, RFC 6238): the secret sealed with the
-- key-encryption key, when it was confirmed (null while being set up), and
-- the last time step a code was accepted for (a code of that step or an
-- earlier one is never accepted again).
create table totp_factors (
    user_id text primary key,
    secret blob not null,
    confirmed_at bigint,
    last_step bigint not null,
    created_at bigint not null
);

-- One-time recovery codes, stored as SHA-256 hashes of 80-bit codes; a used
-- code keeps its row with `used_at` set.
create table recovery_codes (
    user_id text not null,
    code_hash blob not null,
    used_at bigint,
    created_at bigint not null,
    primary key (user_id, code_hash)
);
