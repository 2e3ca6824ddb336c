-- "Sign out everywhere": sessions of the user that began at or before `at` are
-- no longer valid (password change, disabled account, admin revocation).
create table user_signouts (
    user_id text primary key,
    at integer not null
);
