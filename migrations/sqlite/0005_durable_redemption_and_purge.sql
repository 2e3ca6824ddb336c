-- Authorization codes that were redeemed, by SHA-256 of the code, with the grant
-- the redemption made. The primary key is what makes redemption atomic: of two
-- concurrent redemptions only one insert succeeds, and the other learns the
-- winner's grant and revokes it (DESIGN.md rule 3).
create table redeemed_codes (
    code_hash blob primary key,
    grant_id text not null,
    expires_at integer not null
);
create index redeemed_codes_expires_at on redeemed_codes (expires_at);

-- A revoked grant is told by grants.revoked_at alone; the "grant:<id>" rows the
-- revocation list used to carry are redundant.
delete from revoked_tokens where jti like 'grant:%';

-- Indexes the background purge walks, so each bounded batch is a short range scan.
create index refresh_tokens_expires_at on refresh_tokens (expires_at);
create index grants_revoked_at on grants (revoked_at);
create index grants_created_at on grants (created_at);
create index audit_events_at on audit_events (at);
