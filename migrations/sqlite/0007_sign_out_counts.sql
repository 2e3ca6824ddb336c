-- Sign-outs everywhere are counted, not timed: a session, code or grant
-- records the count of its person's sign-outs when it began and is over once
-- the count moved on. (Timestamps in whole seconds cannot order a sign-in
-- against a sign-out made in the same second.) `at` stays as the time of the
-- last one, for operators.
alter table user_signouts add column sign_outs bigint not null default 1;
alter table grants add column sign_outs bigint not null default 0;
-- Grants begun after their person's last sign-out stay live.
update grants set sign_outs = 1 where exists (
    select 1 from user_signouts s where s.user_id = grants.user_id and grants.auth_time > s.at
);
