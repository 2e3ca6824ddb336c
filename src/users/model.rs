//! User types: the stored [`User`], the [`NewUser`] a creation asks for, the
//! [`UserPatch`] an update sends, and the [`UserView`] we show. Field names
//! follow the OpenID Connect standard claims where there is one.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::claims::{Claims, ClaimsPatch};
use crate::clock::UnixTime;

/// A person who can sign in. Its `Debug` never shows the password hash.
#[derive(Clone)]
pub struct User {
    /// Stable subject identifier (`sub`); never the email.
    pub id: String,
    /// Trimmed, lowercased email address; unique.
    pub email: String,
    /// Whether the address is known to belong to the person.
    pub email_verified: bool,
    /// Full name, if known.
    pub name: Option<String>,
    /// The name the person likes to be called by.
    pub preferred_username: Option<String>,
    /// argon2id PHC string; `None` when the account has no password.
    pub password_hash: Option<String>,
    /// A disabled account may not sign in.
    pub disabled: bool,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
    /// The other standard claims the person has.
    pub claims: Claims,
}

impl User {
    /// What the admin API and CLI show: everything but the password hash.
    pub fn view(&self) -> UserView {
        UserView {
            user_id: self.id.clone(),
            email: self.email.clone(),
            email_verified: self.email_verified,
            name: self.name.clone(),
            preferred_username: self.preferred_username.clone(),
            disabled: self.disabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
            claims: self.claims.clone(),
        }
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("name", &self.name)
            .field("preferred_username", &self.preferred_username)
            .field("claims", &self.claims)
            .field("has_password", &self.password_hash.is_some())
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A user as shown by the admin API and the CLI (never includes the password hash).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// The stable subject identifier.
    pub user_id: String,
    /// Email address, lowercased.
    pub email: String,
    /// Whether the address is verified.
    pub email_verified: bool,
    /// Full name.
    pub name: Option<String>,
    /// Preferred username.
    pub preferred_username: Option<String>,
    /// Whether sign-in is refused.
    pub disabled: bool,
    /// Creation time, Unix seconds.
    pub created_at: UnixTime,
    /// Last update, Unix seconds.
    pub updated_at: UnixTime,
    /// The other OpenID Connect standard claims the person has.
    pub claims: Claims,
}

/// What a creation asks for (admin API `POST /admin/users`, `gatehouse user create`).
/// Its `Debug` never shows the password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Email address, at most 254 characters as sent: one `@` between a local part
    /// and a domain, no whitespace or control characters except surrounding
    /// whitespace, which is trimmed; stored lowercased, unique.
    #[schema(
        min_length = 3,
        max_length = 254,
        pattern = "^[\\t\\n\\u000b\\u000c\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^@\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+@[^@\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+[\\t\\n\\u000b\\u000c\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    )]
    pub email: String,
    /// Password, 8 to 1024 characters; omit for an account that cannot sign in with one.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: Option<String>,
    /// Whether the address is already verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Full name, up to 200 characters, no control characters; stored trimmed.
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub name: Option<String>,
    /// Preferred username, up to 200 characters, no control characters; stored trimmed.
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub preferred_username: Option<String>,
    /// Other OpenID Connect standard claims (given and family name, picture,
    /// website, locale, zoneinfo, phone number, address).
    pub claims: Option<ClaimsPatch>,
}

/// A partial update (admin API `PATCH /admin/users/{user_id}`); absent fields
/// stay, an empty `name` or `preferred_username` clears it. Changing the email
/// marks it unverified unless `email_verified` is sent too. Its `Debug` never
/// shows the password.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// New email address (same rules as at creation).
    #[schema(
        min_length = 3,
        max_length = 254,
        pattern = "^[\\t\\n\\u000b\\u000c\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^@\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+@[^@\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+[\\t\\n\\u000b\\u000c\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    )]
    pub email: Option<String>,
    /// New verification flag.
    pub email_verified: Option<bool>,
    /// New full name (same rules as at creation).
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub name: Option<String>,
    /// New preferred username (same rules as at creation).
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub preferred_username: Option<String>,
    /// New password, 8 to 1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: Option<String>,
    /// Changes to the other standard claims: absent fields stay, empty ones clear.
    pub claims: Option<ClaimsPatch>,
}

/// How a password field shows in `Debug`: whether one was given, never what.
fn redacted(password: &Option<String>) -> Option<&'static str> {
    password.as_ref().map(|_| "********")
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("password", &redacted(&self.password))
            .field("email_verified", &self.email_verified)
            .field("name", &self.name)
            .field("preferred_username", &self.preferred_username)
            .finish()
    }
}

impl fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserPatch")
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("name", &self.name)
            .field("preferred_username", &self.preferred_username)
            .field("password", &redacted(&self.password))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_passwords_or_hashes() {
        let new = NewUser {
            email: "a@example.com".into(),
            password: Some("hunter2hunter2".into()),
            email_verified: false,
            name: None,
            preferred_username: None,
            claims: None,
        };
        let patch = UserPatch {
            password: Some("hunter2hunter2".into()),
            ..UserPatch::default()
        };
        let user = User {
            id: "u".into(),
            email: "a@example.com".into(),
            email_verified: false,
            name: None,
            preferred_username: None,
            password_hash: Some("$argon2id$v=19$secret".into()),
            disabled: false,
            created_at: 0,
            updated_at: 0,
            claims: Claims::default(),
        };
        for shown in [
            format!("{new:?}"),
            format!("{patch:?}"),
            format!("{user:?}"),
        ] {
            assert!(
                !shown.contains("hunter2") && !shown.contains("argon2"),
                "{shown}"
            );
        }
    }
}
