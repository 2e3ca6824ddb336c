-- How many times each person removed each app's access from the account
-- area. An authorization code records the count when it is issued and is
-- refused once the count moved on, so a code the app still held when its
-- access was removed never turns into a grant.
create table app_access_removals (
    user_id text not null,
    client_id text not null,
    removals bigint not null,
    primary key (user_id, client_id)
);
