-- 1 when the client may introspect tokens issued to other clients (a resource
-- server, RFC 7662 §2.1); by default a client introspects only its own tokens.
alter table clients add column introspect_any bigint not null default 0;
-- When the client's credentials or permissions last changed (secret rotated,
-- scope or grants edited). Admin-API tokens issued at or before this second
-- carry no admin power; null when nothing changed since registration.
alter table clients add column credentials_changed_at bigint;
