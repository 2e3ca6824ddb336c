-- The individual claims a client asked for with the OpenID Connect `claims`
-- parameter (JSON: {"userinfo": [...], "id_token": [...]}); kept with the
-- grant so refreshed tokens ask for the same.
alter table grants add column claims text;
