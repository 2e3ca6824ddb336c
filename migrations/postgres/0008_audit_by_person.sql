-- The admin API lists one person's audit events, newest first.
create index audit_events_user_id on audit_events (user_id, id);
