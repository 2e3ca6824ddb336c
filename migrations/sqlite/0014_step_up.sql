-- Clients that require everyone signing in to use more than a password.
alter table clients add column require_mfa bigint not null default 0;

-- The authentication context class (acr) a grant was issued under, so that
-- refreshed ID tokens report what the original sign-in reached; empty for
-- grants issued before it was recorded (read from their amr instead).
alter table grants add column acr text not null default '';
