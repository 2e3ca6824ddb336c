//! The account's sign-in methods page: the authenticator app — turning it on
//! (a QR code and a confirming code, then recovery codes shown once) and off,
//! new recovery codes — and the passkeys and password listed beside it
//! (their forms are [`super::passkeys`]). Every change needs a recent sign-in
//! and proof beyond the session ([`prove`]), and is audited with where it
//! came from.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::pages::{Notice, proving_with_passkey, render, render_with};
use super::when::When;
use super::{AccountForm, Person, origin, recent_enough};
use crate::app::AppState;
use crate::factors::Standing;
use crate::http::pages::see_other;
use crate::http::params::FormParams;
use crate::http::{ClientIp, Error};
use crate::interaction::AccountPage;
use crate::login::device;
use crate::login::password::{Checked, Unchecked, check};
use crate::login::second_factor::{CodeCheck, check_code};
use crate::login::session::Session;
use crate::passkeys::{Bound, PasskeyError};
use crate::users;

#[derive(Template)]
#[template(path = "account_security.html")]
struct SecurityPage<'a> {
    totp: bool,
    recovery_codes_left: i64,
    passkeys: Vec<PasskeyItem>,
    passkeys_available: bool,
    has_password: bool,
    /// What changes here are proven with.
    asks: ProofAsked,
    email: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    sid: &'a str,
    csrf: String,
}

#[derive(Template)]
#[template(path = "account_totp_setup.html")]
struct SetupPage<'a> {
    qr_svg: &'a str,
    secret: &'a str,
    uri: &'a str,
    sid: &'a str,
    csrf: String,
}

#[derive(Template)]
#[template(path = "account_recovery_codes.html")]
struct CodesPage<'a> {
    codes: &'a [String],
    sid: &'a str,
    csrf: String,
}

/// One passkey as the page lists it.
struct PasskeyItem {
    id: String,
    name: String,
    added: When,
    last_used: Option<When>,
    synced: bool,
}

/// `GET /account/security`: what protects the account besides the password.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Person(session): Person,
    Query(notice): Query<Notice>,
) -> Result<Response, Error> {
    let notice = match notice.done.as_deref() {
        Some("removed") => {
            Some("The authenticator app was turned off, and its recovery codes no longer work.")
        }
        Some("passkey-added") => Some("The passkey was added. It can sign you in now."),
        Some("passkey-renamed") => Some("The passkey was renamed."),
        Some("passkey-removed") => Some("The passkey was removed. It no longer signs you in."),
        Some("password-removed") => Some(
            "Your password was removed: your passkeys sign you in. Every other session was signed out.",
        ),
        _ => None,
    };
    security_page(&state, &headers, &session, notice, None, StatusCode::OK).await
}

/// The sign-in methods page of `session`'s person, with a notice or an error.
pub(super) async fn security_page(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, Error> {
    let user = users::find(&state.store, &session.user_id).await?;
    let standing = state.factors().standing(&user.id).await?;
    let now = state.clock.now();
    let passkeys = state
        .passkeys()
        .list(&user.id)
        .await?
        .into_iter()
        .map(|row| PasskeyItem {
            id: row.id,
            name: row.name,
            added: When::of(row.created_at, now),
            last_used: row.last_used_at.map(|at| When::of(at, now)),
            synced: row.backup_eligible != 0,
        })
        .collect();
    let asks = ProofAsked::given(state, &user, &standing);
    let policy = proving_with_passkey(asks.passkey);
    render_with(state, headers, status, &policy, |csrf| SecurityPage {
        asks,
        totp: standing.totp,
        recovery_codes_left: standing.recovery_codes_left,
        passkeys,
        passkeys_available: state.passkeys().available(),
        has_password: user.password_hash.is_some(),
        email: &user.email,
        notice,
        error,
        sid: &session.sid,
        csrf,
    })
}

/// What a form proved beyond the browser's session.
pub(super) struct Proven {
    /// How the person proved it (RFC 8176), e.g. `["pwd", "otp", "mfa"]`.
    pub amr: Vec<String>,
    /// The password hash the proof checked (`None` for an account without
    /// one): a change conditional on it refuses to land over a password
    /// changed since.
    pub password_hash: Option<String>,
}

/// How a change form's proof ended.
pub(super) enum Proof {
    /// Given: the change may be made.
    Given(Proven),
    /// Not given: show this page instead (the sign-in page, or the form again
    /// saying what was wrong).
    Page(Response),
}

/// Whether the form may change the sign-in methods: the sign-in is recent
/// enough ([`recent_enough`]; else its sign-in page), and the form proves the
/// person is at the keyboard beyond that ([`proof`]).
pub(super) async fn prove(
    state: &AppState,
    headers: &HeaderMap,
    ip: &str,
    session: &Session,
    form: &FormParams,
) -> Result<Proof, Error> {
    if let Some(page) = recent_enough(state, headers, session, AccountPage::Security).await? {
        return Ok(Proof::Page(page));
    }
    match proof(state, headers, ip, session, form, "password").await? {
        Ok(proven) => Ok(Proof::Given(proven)),
        Err((message, status)) => {
            let page = security_page(state, headers, session, None, Some(message), status).await?;
            Ok(Proof::Page(retry_after_when_busy(page)))
        }
    }
}

/// The proof a form gives that the person is at the keyboard, beyond the
/// session (a stolen session cookie is recent too), with the strongest
/// factor they have — so holding one factor never lets anyone replace a
/// stronger one: a use of one of their passkeys made for this session
/// ([`passkey_proof`]) when they have a passkey; else their password (the
/// field `password_field`) and, when an authenticator app is on, a current
/// code from it or a recovery code, each through its limits. `Err` holds
/// what the form tells the person, and the status.
pub(super) async fn proof(
    state: &AppState,
    headers: &HeaderMap,
    ip: &str,
    session: &Session,
    form: &FormParams,
    password_field: &str,
) -> Result<Result<Proven, (&'static str, StatusCode)>, Error> {
    let user = users::find(&state.store, &session.user_id).await?;
    let asks = ProofAsked::of(state, &user).await?;
    if asks.passkey {
        return Ok(match passkey_proof(state, session, form).await? {
            Some(amr) => Ok(Proven {
                amr,
                password_hash: user.password_hash,
            }),
            None => Err((PASSKEY_NOT_ACCEPTED, StatusCode::UNPROCESSABLE_ENTITY)),
        });
    }
    if !asks.password {
        return Ok(Err((
            "Passkeys cannot be used on this server now, and your account has no password: ask its operator.",
            StatusCode::CONFLICT,
        )));
    }
    let password = form.get(password_field).unwrap_or_default();
    let agent = device::user_agent(headers);
    let mut proven = match check(state, &user.email, password, ip, agent).await {
        Ok(Checked::Right(found)) if found.user.id == user.id => Proven {
            amr: vec!["pwd".to_owned()],
            password_hash: found.user.password_hash,
        },
        Ok(_) => return Ok(Err((WRONG_PASSWORD, StatusCode::UNPROCESSABLE_ENTITY))),
        Err(Unchecked::Failed(e)) => return Err(e),
        Err(why) => return Ok(Err(why.message())),
    };
    if asks.code {
        let code = form.get("code").unwrap_or_default();
        match check_code(state, headers, &user.id, code, ip).await? {
            CodeCheck::Passed(_) => proven.amr.extend(["otp".to_owned(), "mfa".to_owned()]),
            refused => return Ok(Err((refused.message(), refused.status()))),
        }
    }
    Ok(Ok(proven))
}

/// What a change form asks the person for as proof ([`proof`]), so the page
/// shows those fields.
#[derive(Clone, Copy, Debug)]
pub(super) struct ProofAsked {
    /// A use of one of their passkeys (the person has one).
    pub passkey: bool,
    /// The password (when no passkey is asked for).
    pub password: bool,
    /// A code from the authenticator app (when no passkey is asked for).
    pub code: bool,
}

impl ProofAsked {
    /// What changes of `user` are proven with.
    pub(super) async fn of(state: &AppState, user: &crate::users::User) -> Result<Self, Error> {
        let standing = state.factors().standing(&user.id).await?;
        Ok(Self::given(state, user, &standing))
    }

    /// What changes of `user`, who has `standing`, are proven with.
    fn given(state: &AppState, user: &crate::users::User, standing: &Standing) -> Self {
        let passkey = state.passkeys().available() && standing.passkeys > 0;
        Self {
            passkey,
            password: !passkey && user.password_hash.is_some(),
            code: !passkey && standing.totp,
        }
    }
}

/// `page` with `Retry-After` when it says the server is busy (503).
pub(super) fn retry_after_when_busy(page: Response) -> Response {
    if page.status() == StatusCode::SERVICE_UNAVAILABLE {
        return crate::http::pages::retry_after(page, 1);
    }
    page
}

/// What the person is told when the password a change was proven with is
/// wrong (a form may say it in its own words, matching on this).
pub(super) const WRONG_PASSWORD: &str = "Your password is not right.";

/// What the person is told when the passkey proof of a form did not pass.
pub(super) const PASSKEY_NOT_ACCEPTED: &str = "Confirm it is you with one of your passkeys: it was not accepted. Try again (this needs JavaScript).";

/// The proof a passkey holder gives for a change: the form's
/// `credential`, a use of one of the person's passkeys made for this very
/// session ([`options_for_proof`]), once. Returns what it proved (RFC 8176),
/// or `None` when it is missing or was not accepted.
pub(super) async fn passkey_proof(
    state: &AppState,
    session: &Session,
    form: &FormParams,
) -> Result<Option<Vec<String>>, Error> {
    let answer = form.get("credential").unwrap_or_default();
    let used = state
        .passkeys()
        .finish(Bound::Proof(&session.sid), Some(&session.user_id), answer)
        .await;
    match used {
        Ok(used) => Ok(Some(used.amr)),
        Err(PasskeyError::Service(e)) => Err(e.into()),
        Err(e) => {
            tracing::info!(error = %e, "a passkey proof was refused");
            Ok(None)
        }
    }
}

/// `POST /account/security/proof/options`: the options for the passkey use
/// that proves a change of a passkey holder's account.
pub async fn options_for_proof(
    State(state): State<AppState>,
    AccountForm { session, .. }: AccountForm,
) -> Result<Response, Error> {
    let options = state
        .passkeys()
        .begin_use(&session.user_id, Bound::Proof(&session.sid))
        .await?
        .ok_or_else(Error::out_of_date)?;
    Ok(Json(options).into_response())
}

/// `POST /account/security/totp/begin`: a new secret for an authenticator
/// app, shown as a QR code and as text, to be confirmed with a code.
pub async fn begin_totp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm { session, form }: AccountForm,
) -> Result<Response, Error> {
    if let Proof::Page(page) = prove(&state, &headers, &ip, &session, &form).await? {
        return Ok(page);
    }
    let user = users::find(&state.store, &session.user_id).await?;
    let setup = state.factors().begin_totp(&user.id, &user.email).await?;
    render(&state, &headers, StatusCode::OK, |csrf| SetupPage {
        qr_svg: &setup.qr_svg,
        secret: &setup.secret,
        uri: &setup.uri,
        sid: &session.sid,
        csrf,
    })
}

/// `POST /account/security/totp/confirm` (`code`): turns the app being set
/// up on once its current code is typed, and shows the new recovery codes.
pub async fn confirm_totp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm { session, form }: AccountForm,
) -> Result<Response, Error> {
    if let Some(page) = recent_enough(&state, &headers, &session, AccountPage::Security).await? {
        return Ok(page);
    }
    let code = form.get("code").unwrap_or_default();
    let detail = format!(
        "turned on by the person {}",
        origin(&session, &ip, &headers)
    );
    match state
        .factors()
        .confirm_totp(&session.user_id, code, &detail)
        .await?
    {
        Some(codes) => show_codes(&state, &headers, &session.sid, &codes),
        None => Err(Error::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That code did not match",
            "Set up the authenticator app again and type the code it shows now.",
        )),
    }
}

/// The page showing a new set of recovery `codes`, the one time they are shown.
fn show_codes(
    state: &AppState,
    headers: &HeaderMap,
    sid: &str,
    codes: &[String],
) -> Result<Response, Error> {
    render(state, headers, StatusCode::OK, |csrf| CodesPage {
        codes,
        sid,
        csrf,
    })
}

/// `POST /account/security/recovery-codes`: a new set of recovery codes; the
/// old set stops working.
pub async fn new_recovery_codes(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm { session, form }: AccountForm,
) -> Result<Response, Error> {
    if let Proof::Page(page) = prove(&state, &headers, &ip, &session, &form).await? {
        return Ok(page);
    }
    let detail = format!("made by the person {}", origin(&session, &ip, &headers));
    match state
        .factors()
        .regenerate_recovery_codes(&session.user_id, &detail)
        .await?
    {
        Some(codes) => show_codes(&state, &headers, &session.sid, &codes),
        None => Ok(see_other(AccountPage::Security.path())),
    }
}

/// `POST /account/security/totp/remove`: turns the authenticator app off and
/// ends its recovery codes.
pub async fn remove_totp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm { session, form }: AccountForm,
) -> Result<Response, Error> {
    if let Proof::Page(page) = prove(&state, &headers, &ip, &session, &form).await? {
        return Ok(page);
    }
    let detail = format!(
        "turned off by the person {}",
        origin(&session, &ip, &headers)
    );
    state
        .factors()
        .remove_totp(&session.user_id, &detail)
        .await?;
    Ok(see_other(&format!(
        "{}?done=removed",
        AccountPage::Security.path()
    )))
}

/// `POST /account/security/recovery-codes.txt` (`codes`): the codes the page
/// just showed, as a text file to keep. Only what the browser sent back is
/// in it (the server keeps no code it could show again).
pub async fn download_recovery_codes(
    AccountForm { form, .. }: AccountForm,
) -> Result<Response, Error> {
    let codes: Vec<&str> = form
        .get("codes")
        .unwrap_or_default()
        .split_whitespace()
        .take(crate::factors::recovery::CODES)
        .collect();
    let mut text = String::from("Gatehouse recovery codes. Each works once.\n\n");
    for code in codes {
        text.push_str(code);
        text.push('\n');
    }
    Ok((
        [
            (CONTENT_TYPE, "text/plain; charset=utf-8"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"gatehouse-recovery-codes.txt\"",
            ),
            (CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response())
}
