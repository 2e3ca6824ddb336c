-- The OpenID Connect standard claims a person has beyond name and
-- preferred_username (given and family name, picture, website, locale,
-- zoneinfo, phone number, postal address), as one JSON object.
alter table users add column claims text not null default '{}';
