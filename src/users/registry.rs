//! User operations shared by the admin API and the CLI. Each change is one
//! unit of work: one that must end the person's access (DESIGN.md rule 7) makes
//! its sign-out everywhere in the same transaction, so the front-ends cannot
//! forget it and a failure never leaves it half done.

use super::claims::{CheckedClaims, Claims, ClaimsPatch};
use super::model::{NewUser, User, UserPatch};
use super::validate;
use crate::clock::UnixTime;
use crate::crypto::password::{PasswordError, PasswordHasher};
use crate::crypto::secret::random_id;
use crate::mail::{MailError, Message, Outbox};
use crate::store::{AuditEvent, Store, StoreError, Tx, UserRow};

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
    /// The password was changed by someone else since it was checked.
    #[error("the password was changed meanwhile")]
    PasswordChanged,
    /// Removing the password would leave no way to sign in (no passkey).
    #[error("a password can be removed only while a passkey can sign in instead")]
    NoOtherWayIn,
    /// The password could not be hashed (or the server is too busy to).
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    /// The notice of the change could not be written (nothing changed).
    #[error(transparent)]
    Mail(#[from] MailError),
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
    let mut claims = Claims::default();
    if let Some(patch) = new.claims {
        patch.checked()?.apply_to(&mut claims);
    }
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
        claims,
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

/// A user found by email, with their sign-out count as it stood when the user
/// (and so the password hash) was read.
#[derive(Debug)]
pub struct FoundUser {
    /// The user.
    pub user: User,
    /// How many times they were signed out everywhere, read with `user`. A
    /// session started on a check of this user's password must carry this
    /// count (not a later one), so that a password change or sign-out
    /// committed after the read ends that session too.
    pub sign_outs: i64,
}

/// The user with this email (compared trimmed and case-insensitively), if any.
pub async fn find_by_email(store: &Store, email: &str) -> Result<Option<FoundUser>, UserError> {
    Ok(store
        .get_user_by_email(&validate::normalise_email(email))
        .await?
        .map(|(row, sign_outs)| FoundUser {
            user: from_row(row),
            sign_outs,
        }))
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

/// Applies `patch`; every field is validated, and a new password hashed,
/// before the unit of work begins, so the hashing never holds the write path.
/// The change is applied to the row as it is inside that unit of work (locked),
/// so two concurrent edits each keep the other's fields, and a concurrent
/// disable is never written back as enabled. A new email address is unverified
/// unless the patch says otherwise. A new password signs the person out
/// everywhere (DESIGN.md rule 7) in the same unit of work as the change: the
/// new password is stored exactly when every old session and grant has ended,
/// so a failure leaves the old password and everything signed in with it as they were.
pub async fn update(
    store: &Store,
    hasher: &PasswordHasher,
    mail: &Outbox,
    now: UnixTime,
    id: &str,
    patch: UserPatch,
    by: Actor<'_>,
) -> Result<User, UserError> {
    let change = Change::validated(hasher, patch).await?;
    let (user, _) = apply(store, Some(mail), now, id, change, by, None, None).await?;
    Ok(user)
}

/// The person's own change of their name, username and other claims (the
/// account area), recorded as a `profile_updated` event saying from where,
/// in the same unit of work as the change. The email and the password are
/// not changed here.
pub async fn update_profile(
    store: &Store,
    hasher: &PasswordHasher,
    now: UnixTime,
    id: &str,
    patch: UserPatch,
    from: &str,
) -> Result<User, UserError> {
    let patch = UserPatch {
        email: None,
        email_verified: None,
        password: None,
        ..patch
    };
    let change = Change::validated(hasher, patch).await?;
    let detail = format!("profile changed by the person {from}");
    let event = AuditEvent {
        kind: "profile_updated",
        user_id: Some(id),
        client_id: None,
        detail: &detail,
    };
    let (user, _) = apply(
        store,
        None,
        now,
        id,
        change,
        Actor::Person(from),
        None,
        Some(&event),
    )
    .await?;
    Ok(user)
}

/// The person's own password change: `new_password` (checked by the same
/// rules) replaces the password whose hash `checked_hash` the caller has just
/// verified (`None`: the caller saw the account has no password, and one is
/// set) — refused with [`UserError::PasswordChanged`] when the stored hash
/// is another by the time the change is written (a concurrent change won), so
/// of two changes racing from the same old password only the first lands.
/// Like every password change it signs the person out everywhere in the same
/// unit of work; returns the sign-out count it left, read in that unit of
/// work, for the one session that carries on.
#[allow(clippy::too_many_arguments)]
pub async fn change_own_password(
    store: &Store,
    hasher: &PasswordHasher,
    mail: &Outbox,
    now: UnixTime,
    id: &str,
    checked_hash: Option<&str>,
    new_password: &str,
    by: Actor<'_>,
) -> Result<i64, UserError> {
    let patch = UserPatch {
        password: Some(new_password.to_owned()),
        ..UserPatch::default()
    };
    let change = Change::validated(hasher, patch).await?;
    let (_, sign_outs) = apply(
        store,
        Some(mail),
        now,
        id,
        change,
        by,
        Some(checked_hash),
        None,
    )
    .await?;
    Ok(sign_outs)
}

/// The person's own removal of their password, for an account a passkey signs
/// in: refused with [`UserError::NoOtherWayIn`] when no passkey is left (read
/// with the user row locked, so a passkey removed at the same moment is
/// seen), and with [`UserError::PasswordChanged`] when the stored hash is no
/// longer `checked_hash`. Like a password change it signs the person out
/// everywhere in the same unit of work; returns the sign-out count it left.
pub async fn remove_own_password(
    store: &Store,
    mail: &Outbox,
    now: UnixTime,
    id: &str,
    checked_hash: &str,
    by: Actor<'_>,
) -> Result<i64, UserError> {
    let mut tx = store.begin().await?;
    let mut user = from_row(tx.user_for_update(id).await?);
    if user.password_hash.as_deref() != Some(checked_hash) {
        return Err(UserError::PasswordChanged);
    }
    if tx.passkeys_left(id).await? == 0 {
        return Err(UserError::NoOtherWayIn);
    }
    user.password_hash = None;
    user.updated_at = now;
    tx.update_user(&to_row(&user)).await?;
    let detail = format!("password removed {}", by.phrase());
    let revoked = end_access(&mut tx, id, now, Some(&detail)).await?;
    notify_password_change(
        &mut tx,
        mail,
        &user,
        now,
        &format!("(removed) {}", by.phrase()),
    )
    .await?;
    let sign_outs = tx.sign_out_count(id).await?;
    tx.commit().await?;
    mail.wake();
    log_ended(id, Some(&detail), revoked);
    Ok(sign_outs)
}

/// Applies `change` to user `id` in one unit of work (see [`update`]), first
/// checking, when `expected_hash` is given, that the stored password hash is
/// still that one (`Some(None)`: that there is still none), and recording
/// `event` with it when given. Returns the user
/// and their sign-out count afterwards.
#[allow(clippy::too_many_arguments)]
async fn apply(
    store: &Store,
    mail: Option<&Outbox>,
    now: UnixTime,
    id: &str,
    change: Change,
    by: Actor<'_>,
    expected_hash: Option<Option<&str>>,
    event: Option<&AuditEvent<'_>>,
) -> Result<(User, i64), UserError> {
    let mut tx = store.begin().await?;
    let mut user = from_row(tx.user_for_update(id).await?);
    if expected_hash.is_some_and(|hash| user.password_hash.as_deref() != hash) {
        return Err(UserError::PasswordChanged);
    }
    let before = user.clone();
    let password_changed = change.apply_to(&mut user);
    if user.email != before.email {
        // A link mailed to the old address must not outlive the change.
        tx.end_account_tokens(&user.id, None, now).await?;
    }
    if let (true, Some(mail)) = (password_changed, mail) {
        // To the address the account had: a change of both tells its owner.
        notify_password_change(&mut tx, mail, &before, now, &by.phrase()).await?;
    }
    user.updated_at = now;
    let detail = format!("password changed {}", by.phrase());
    let ending = password_changed.then_some(detail.as_str());
    tx.update_user(&to_row(&user)).await?;
    let revoked = end_access(&mut tx, &user.id, now, ending).await?;
    if let Some(event) = event {
        tx.record_audit(event, now).await?;
    }
    let sign_outs = tx.sign_out_count(&user.id).await?;
    tx.commit().await?;
    if let (true, Some(mail)) = (password_changed, mail) {
        mail.wake();
    }
    tracing::info!(user_id = %user.id, "user updated");
    log_ended(&user.id, ending, revoked);
    Ok((user, sign_outs))
}

/// A [`UserPatch`] whose fields are validated and whose password is hashed;
/// `None` leaves a field as stored.
struct Change {
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<Option<String>>,
    preferred_username: Option<Option<String>>,
    password_hash: Option<String>,
    claims: Option<CheckedClaims>,
}

impl Change {
    async fn validated(hasher: &PasswordHasher, patch: UserPatch) -> Result<Self, UserError> {
        let email = patch.email.as_deref().map(validate::email).transpose()?;
        let name = patch
            .name
            .map(|name| validate::text("name", Some(name)))
            .transpose()?;
        let preferred_username = patch
            .preferred_username
            .map(|name| validate::text("preferred_username", Some(name)))
            .transpose()?;
        let claims = patch.claims.map(ClaimsPatch::checked).transpose()?;
        let password_hash = match patch.password {
            Some(password) => Some(hash_password(hasher, &password).await?),
            None => None,
        };
        Ok(Self {
            email,
            email_verified: patch.email_verified,
            name,
            preferred_username,
            password_hash,
            claims,
        })
    }

    /// Writes the change into `user`; returns whether the password changed.
    fn apply_to(self, user: &mut User) -> bool {
        if let Some(email) = self.email
            && email != user.email
        {
            user.email = email;
            user.email_verified = false;
        }
        if let Some(verified) = self.email_verified {
            user.email_verified = verified;
        }
        if let Some(name) = self.name {
            user.name = name;
        }
        if let Some(name) = self.preferred_username {
            user.preferred_username = name;
        }
        if let Some(claims) = self.claims {
            claims.apply_to(&mut user.claims);
        }
        let password_changed = self.password_hash.is_some();
        if let Some(hash) = self.password_hash {
            user.password_hash = Some(hash);
        }
        password_changed
    }
}

/// After a successful sign-in with `password`: when the stored hash was made
/// with other argon2 parameters than the configured ones, rehashes it with the
/// current ones (on the bounded hashing pool) and stores it, unless the hash
/// changed meanwhile. So every account soon costs the same to check as an
/// unknown one (DESIGN.md rule 8). Returns the new hash when it upgraded
/// the stored one.
pub async fn upgrade_password_hash(
    store: &Store,
    hasher: &PasswordHasher,
    user: &User,
    password: &str,
) -> Result<Option<String>, UserError> {
    let Some(old) = user.password_hash.as_deref() else {
        return Ok(None);
    };
    if hasher.is_current(old) {
        return Ok(None);
    }
    let new = hasher.hash(password).await?;
    if !store.replace_password_hash(&user.id, old, &new).await? {
        return Ok(None);
    }
    tracing::info!(user_id = %user.id, "password hash upgraded to the configured cost");
    Ok(Some(new))
}

/// Disables an account: it can no longer sign in, and it is signed out
/// everywhere in the same unit of work (DESIGN.md rule 7), so the account is
/// never disabled with its sessions and tokens still alive, nor the other way round.
pub async fn disable(
    store: &Store,
    now: UnixTime,
    id: &str,
    by: Actor<'_>,
) -> Result<User, UserError> {
    let detail = format!("account disabled {}", by.phrase());
    set_disabled(store, now, id, true, Some(&detail)).await
}

/// Lets a disabled account sign in again: one write, nothing else changes
/// (sessions and grants it lost when disabled stay ended).
pub async fn enable(store: &Store, now: UnixTime, id: &str) -> Result<User, UserError> {
    set_disabled(store, now, id, false, None).await
}

async fn set_disabled(
    store: &Store,
    now: UnixTime,
    id: &str,
    disabled: bool,
    ending: Option<&str>,
) -> Result<User, UserError> {
    let mut tx = store.begin().await?;
    let mut user = from_row(tx.user_for_update(id).await?);
    user.disabled = disabled;
    user.updated_at = now;
    tx.update_user(&to_row(&user)).await?;
    let revoked = end_access(&mut tx, &user.id, now, ending).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, disabled, "user sign-in status changed");
    log_ended(&user.id, ending, revoked);
    Ok(user)
}

/// Removes a user and, in the same unit of work, ends every session and grant
/// they had (DESIGN.md rule 7): no token outlives its account, and a failure
/// leaves both the account and its tokens in place.
pub async fn delete(
    store: &Store,
    now: UnixTime,
    id: &str,
    by: Actor<'_>,
) -> Result<(), UserError> {
    let detail = format!("account deleted {}", by.phrase());
    let mut tx = store.begin().await?;
    tx.delete_user(id).await?;
    let revoked = end_access(&mut tx, id, now, Some(&detail)).await?;
    tx.commit().await?;
    tracing::info!(user_id = %id, "user deleted");
    log_ended(id, Some(&detail), revoked);
    Ok(())
}

/// Signs an existing user out everywhere (DESIGN.md rule 7): every browser
/// session ends and every refresh and access token of theirs stops working,
/// with an audit event, all in one unit of work. Returns how many grants ended.
pub async fn sign_out_everywhere(
    store: &Store,
    now: UnixTime,
    id: &str,
    by: Actor<'_>,
) -> Result<usize, UserError> {
    let detail = format!("signed out everywhere {}", by.phrase());
    let mut tx = store.begin().await?;
    let user = from_row(tx.user_for_update(id).await?);
    let revoked = end_access(&mut tx, &user.id, now, Some(&detail)).await?;
    tx.commit().await?;
    log_ended(&user.id, Some(&detail), revoked);
    Ok(revoked)
}

/// Who asked for a change that ends a person's access; named in its audit event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor<'a> {
    /// An admin, through the admin API.
    Admin,
    /// An operator, through the `gatehouse` command line.
    Cli,
    /// The person themselves, in the account area; the text says from where
    /// (session, address, device), for the audit event.
    Person(&'a str),
}

impl Actor<'_> {
    /// Who acted, as audit events say it ("by an admin").
    pub fn phrase(self) -> String {
        match self {
            Actor::Admin => "by an admin".to_owned(),
            Actor::Cli => "from the CLI".to_owned(),
            Actor::Person(from) => format!("by the person {from}"),
        }
    }
}

/// The audit kind of every sign-out everywhere.
const SIGNED_OUT_EVERYWHERE: &str = "user_signed_out_everywhere";

/// When `ending` names why, signs `user_id` out everywhere inside `tx`;
/// returns how many grants that ended.
async fn end_access(
    tx: &mut Tx,
    user_id: &str,
    now: UnixTime,
    ending: Option<&str>,
) -> Result<usize, StoreError> {
    let Some(detail) = ending else {
        return Ok(0);
    };
    let event = AuditEvent {
        kind: SIGNED_OUT_EVERYWHERE,
        user_id: Some(user_id),
        client_id: None,
        detail,
    };
    tx.sign_out_everywhere(user_id, now, &event).await
}

/// Logs, once its unit of work committed, that `user_id` was signed out everywhere.
fn log_ended(user_id: &str, ending: Option<&str>, grants: usize) {
    if let Some(reason) = ending {
        tracing::warn!(kind = SIGNED_OUT_EVERYWHERE, %user_id, reason, grants, "grants revoked");
    }
}

/// Writes, inside `tx`, the notice that `user`'s password changed (`how`,
/// in words), to the address they had, with the link to reset it. Every
/// password change made through this module sends one.
pub async fn notify_password_change(
    tx: &mut Tx,
    mail: &Outbox,
    user: &User,
    now: UnixTime,
    how: &str,
) -> Result<(), UserError> {
    let link = format!("{}{}", mail.issuer(), crate::recovery::FORGOT_PATH);
    let notice = Message::PasswordChanged { how, link: &link };
    mail.enqueue(tx, &user.email, Some(&user.id), &notice, now)
        .await?;
    Ok(())
}

/// Sets the password of active account `id` to the one hashed as
/// `password_hash` (made by [`hash_password`]) inside the caller's unit of
/// work, and — as every password change does — signs the person out
/// everywhere in it, giving `detail` as the reason. A disabled account is
/// [`UserError::NotFound`]: a password change never brings it back. Returns
/// the user as changed.
pub async fn set_password_in(
    tx: &mut Tx,
    now: UnixTime,
    id: &str,
    password_hash: String,
    detail: &str,
) -> Result<User, UserError> {
    let mut user = from_row(tx.user_for_update(id).await?);
    if user.disabled {
        return Err(UserError::NotFound);
    }
    user.password_hash = Some(password_hash);
    user.updated_at = now;
    tx.update_user(&to_row(&user)).await?;
    end_access(tx, id, now, Some(detail)).await?;
    Ok(user)
}

/// Checks a new password by the rules every password follows, then hashes
/// it on the bounded hashing pool.
pub async fn hash_password(hasher: &PasswordHasher, password: &str) -> Result<String, UserError> {
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
        claims: serde_json::to_string(&u.claims).unwrap_or_else(|_| "{}".to_owned()),
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
        // Written only by `to_row`; a value that does not read back is treated
        // as no claims rather than failing every read of the person.
        claims: serde_json::from_str(&r.claims).unwrap_or_default(),
    }
}
