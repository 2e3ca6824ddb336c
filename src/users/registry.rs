//! User operations shared by the admin API and the CLI.

use super::model::{NewUser, User, UserPatch};
use super::validate;
use crate::clock::UnixTime;
use crate::crypto::password::{PasswordError, PasswordHasher};
use crate::crypto::secret::random_id;
use crate::store::{Store, StoreError, UserRow};

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A field breaks a rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field, as named in the API.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No user has that id.
    #[error("no user with that user_id")]
    NotFound,
    /// Another user already has that email address.
    #[error("a user with that email already exists")]
    EmailTaken,
    /// The password could not be hashed (or the server is too busy to).
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => UserError::NotFound,
            StoreError::Duplicate => UserError::EmailTaken,
            other => UserError::Store(other),
        }
    }
}

/// Validates and stores a new user with a fresh random id; hashes the password, if any.
pub async fn create(
    store: &Store,
    hasher: &PasswordHasher,
    now: UnixTime,
    new: NewUser,
) -> Result<User, UserError> {
    let email = validate::email(&new.email)?;
    let name = validate::text("name", new.name)?;
    let preferred_username = validate::text("preferred_username", new.preferred_username)?;
    let password_hash = match new.password {
        Some(password) => Some(hash_password(hasher, &password).await?),
        None => None,
    };
    // The RNG failing here fails salting too: both are the same internal error.
    let id = random_id(22).map_err(|e| PasswordError::Internal(e.to_string()))?;
    let user = User {
        id,
        email,
        email_verified: new.email_verified,
        name,
        preferred_username,
        password_hash,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    store.insert_user(&to_row(&user)).await?;
    tracing::info!(user_id = %user.id, "user created");
    Ok(user)
}

/// One user by id.
pub async fn find(store: &Store, id: &str) -> Result<User, UserError> {
    Ok(from_row(store.get_user(id).await?))
}

/// Whether `id` names an account that exists and is not disabled: tokens of
/// anyone else stop working.
pub async fn is_active(store: &Store, id: &str) -> Result<bool, UserError> {
    match find(store, id).await {
        Ok(user) => Ok(!user.disabled),
        Err(UserError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The user with this email (compared trimmed and case-insensitively), if any.
pub async fn find_by_email(store: &Store, email: &str) -> Result<Option<User>, UserError> {
    Ok(store
        .get_user_by_email(&validate::normalise_email(email))
        .await?
        .map(from_row))
}

/// Every user, oldest first.
pub async fn list(store: &Store) -> Result<Vec<User>, UserError> {
    Ok(store
        .list_users()
        .await?
        .into_iter()
        .map(from_row)
        .collect())
}

/// Applies `patch`; every field is validated before the password is hashed.
/// A new email address is unverified unless the patch says otherwise.
pub async fn update(
    store: &Store,
    hasher: &PasswordHasher,
    now: UnixTime,
    id: &str,
    patch: UserPatch,
) -> Result<User, UserError> {
    let mut user = find(store, id).await?;
    if let Some(email) = patch.email {
        let email = validate::email(&email)?;
        if email != user.email {
            user.email = email;
            user.email_verified = false;
        }
    }
    if let Some(verified) = patch.email_verified {
        user.email_verified = verified;
    }
    if patch.name.is_some() {
        user.name = validate::text("name", patch.name)?;
    }
    if patch.preferred_username.is_some() {
        user.preferred_username = validate::text("preferred_username", patch.preferred_username)?;
    }
    if let Some(password) = patch.password {
        user.password_hash = Some(hash_password(hasher, &password).await?);
    }
    user.updated_at = now;
    store.update_user(&to_row(&user)).await?;
    tracing::info!(user_id = %user.id, "user updated");
    Ok(user)
}

/// After a successful sign-in with `password`: when the stored hash was made
/// with other argon2 parameters than the configured ones, rehashes it with the
/// current ones (on the bounded hashing pool) and stores it, unless the hash
/// changed meanwhile. So every account soon costs the same to check as an
/// unknown one (DESIGN.md rule 8). Returns whether the hash was upgraded.
pub async fn upgrade_password_hash(
    store: &Store,
    hasher: &PasswordHasher,
    user: &User,
    password: &str,
) -> Result<bool, UserError> {
    let Some(old) = user.password_hash.as_deref() else {
        return Ok(false);
    };
    if hasher.is_current(old) {
        return Ok(false);
    }
    let new = hasher.hash(password).await?;
    let upgraded = store.replace_password_hash(&user.id, old, &new).await?;
    if upgraded {
        tracing::info!(user_id = %user.id, "password hash upgraded to the configured cost");
    }
    Ok(upgraded)
}

/// Disables (refuses sign-in) or re-enables an account.
pub async fn set_disabled(
    store: &Store,
    now: UnixTime,
    id: &str,
    disabled: bool,
) -> Result<User, UserError> {
    let mut user = find(store, id).await?;
    user.disabled = disabled;
    user.updated_at = now;
    store.update_user(&to_row(&user)).await?;
    tracing::info!(user_id = %user.id, disabled, "user sign-in status changed");
    Ok(user)
}

/// Removes a user.
pub async fn delete(store: &Store, id: &str) -> Result<(), UserError> {
    store.delete_user(id).await?;
    tracing::info!(user_id = %id, "user deleted");
    Ok(())
}

/// Checks the password's length, then hashes it.
async fn hash_password(hasher: &PasswordHasher, password: &str) -> Result<String, UserError> {
    validate::password(password)?;
    Ok(hasher.hash(password).await?)
}

fn to_row(u: &User) -> UserRow {
    UserRow {
        id: u.id.clone(),
        email: u.email.clone(),
        email_verified: i64::from(u.email_verified),
        name: u.name.clone(),
        preferred_username: u.preferred_username.clone(),
        password_hash: u.password_hash.clone(),
        disabled: i64::from(u.disabled),
        created_at: u.created_at,
        updated_at: u.updated_at,
    }
}

fn from_row(r: UserRow) -> User {
    User {
        id: r.id,
        email: r.email,
        email_verified: r.email_verified != 0,
        name: r.name,
        preferred_username: r.preferred_username,
        password_hash: r.password_hash,
        disabled: r.disabled != 0,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}
