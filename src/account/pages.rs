//! The account pages (GET): each needs a signed-in browser and shows only the
//! signed-in person's own data.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::when::When;
use super::{Person, recent_enough};
use crate::app::AppState;
use crate::http::Error;
use crate::http::pages::{self, PagePolicy};
use crate::interaction::AccountPage;
use crate::login::pages::{describe, with_csrf};
use crate::users::{self, User};

/// How many security events the activity page shows.
const ACTIVITY_SHOWN: i64 = 50;

/// How many failed sign-in attempts it shows, apart from the events, so
/// failures (which anyone who knows the email can cause) never push the
/// person's own sign-ins and changes off the page.
const FAILURES_SHOWN: i64 = 10;

#[derive(Template)]
#[template(path = "account_overview.html")]
struct OverviewPage<'a> {
    user: &'a User,
    facts: Vec<(&'static str, String)>,
    sid: &'a str,
    csrf: String,
}

/// One session as the sessions page lists it.
struct SessionItem {
    sid: String,
    device: String,
    ip: String,
    signed_in: When,
    last_active: When,
    current: bool,
}

#[derive(Template)]
#[template(path = "account_sessions.html")]
struct SessionsPage<'a> {
    sessions: Vec<SessionItem>,
    sid: &'a str,
    csrf: String,
    notice: Option<&'a str>,
}

/// One app as the apps page lists it.
struct AppItem {
    client_id: String,
    name: String,
    scopes: Vec<String>,
    since: When,
    last_used: Option<When>,
}

#[derive(Template)]
#[template(path = "account_apps.html")]
struct AppsPage<'a> {
    apps: Vec<AppItem>,
    sid: &'a str,
    csrf: String,
    notice: Option<&'a str>,
}

/// One security event as the activity page lists it.
struct EventItem {
    what: String,
    detail: String,
    when: When,
}

#[derive(Template)]
#[template(path = "account_activity.html")]
struct ActivityPage<'a> {
    events: Vec<EventItem>,
    failures: Vec<EventItem>,
    sid: &'a str,
    csrf: String,
}

#[derive(Template)]
#[template(path = "account_profile.html")]
pub(super) struct ProfilePage<'a> {
    pub(super) fields: Vec<Field>,
    pub(super) sid: &'a str,
    pub(super) csrf: String,
    pub(super) error: Option<&'a str>,
    pub(super) done: bool,
}

/// One input of the profile form.
pub(super) struct Field {
    /// The form field's name (and the input's id).
    pub(super) name: &'static str,
    /// Its label.
    pub(super) label: &'static str,
    /// The input type (`text`, `url`, `tel`).
    pub(super) kind: &'static str,
    /// `autocomplete` token.
    pub(super) autocomplete: &'static str,
    /// A hint shown under the input, if any.
    pub(super) hint: &'static str,
    /// The current (or submitted) value.
    pub(super) value: String,
}

/// The profile form's fields for `user`'s current values.
pub(super) fn profile_fields(user: &User) -> Vec<Field> {
    let claims = &user.claims;
    let address = claims.address.clone().unwrap_or_default();
    let field = |name, label, kind, autocomplete, hint, value: &Option<String>| Field {
        name,
        label,
        kind,
        autocomplete,
        hint,
        value: value.clone().unwrap_or_default(),
    };
    vec![
        field("name", "Full name", "text", "name", "", &user.name),
        field(
            "given_name",
            "Given name",
            "text",
            "given-name",
            "",
            &claims.given_name,
        ),
        field(
            "family_name",
            "Family name",
            "text",
            "family-name",
            "",
            &claims.family_name,
        ),
        field(
            "preferred_username",
            "Username",
            "text",
            "username",
            "",
            &user.preferred_username,
        ),
        field(
            "picture",
            "Picture URL",
            "url",
            "photo",
            "An http:// or https:// address.",
            &claims.picture,
        ),
        field(
            "website",
            "Website",
            "url",
            "url",
            "An http:// or https:// address.",
            &claims.website,
        ),
        field(
            "locale",
            "Language",
            "text",
            "language",
            "A language tag, such as en-GB.",
            &claims.locale,
        ),
        field(
            "zoneinfo",
            "Time zone",
            "text",
            "off",
            "Such as Europe/Paris.",
            &claims.zoneinfo,
        ),
        field(
            "phone_number",
            "Phone number",
            "tel",
            "tel",
            "In international form, such as +14155550123.",
            &claims.phone_number,
        ),
        field(
            "street_address",
            "Street address",
            "text",
            "street-address",
            "",
            &address.street_address,
        ),
        field(
            "locality",
            "City",
            "text",
            "address-level2",
            "",
            &address.locality,
        ),
        field(
            "region",
            "Region",
            "text",
            "address-level1",
            "",
            &address.region,
        ),
        field(
            "postal_code",
            "Postal code",
            "text",
            "postal-code",
            "",
            &address.postal_code,
        ),
        field(
            "country",
            "Country",
            "text",
            "country-name",
            "",
            &address.country,
        ),
    ]
}

/// `GET /account/profile`: the form to change one's name and other claims.
pub async fn profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    Person(session): Person,
    Query(notice): Query<Notice>,
) -> Result<Response, Error> {
    let user = users::find(&state.store, &session.user_id).await?;
    let done = notice.done.as_deref() == Some("saved");
    render(&state, &headers, StatusCode::OK, |csrf| ProfilePage {
        fields: profile_fields(&user),
        sid: &session.sid,
        csrf,
        error: None,
        done,
    })
}

#[derive(Template)]
#[template(path = "account_password.html")]
pub(super) struct PasswordPage<'a> {
    pub(super) email: &'a str,
    pub(super) sid: &'a str,
    pub(super) csrf: String,
    pub(super) error: Option<&'a str>,
    pub(super) done: bool,
    /// Whether the account has a password (else this page sets one).
    pub(super) has_password: bool,
    /// What the form asks for as proof.
    pub(super) asks: super::security::ProofAsked,
}

/// What a page's query may carry: a notice after a change.
#[derive(Deserialize, Default)]
pub(super) struct Notice {
    pub(super) done: Option<String>,
}

/// Renders `build(csrf)` with the browser's CSRF token (setting its cookie
/// when new). Account pages submit only to themselves and load no script.
pub(super) fn render<T: Template>(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    build: impl FnOnce(String) -> T,
) -> Result<Response, Error> {
    render_with(state, headers, status, &PagePolicy::default(), build)
}

/// The policy of an account page whose forms are proven with a passkey
/// (when `passkey_proof`): our passkey script runs there.
pub(super) fn proving_with_passkey(passkey_proof: bool) -> PagePolicy {
    if passkey_proof {
        PagePolicy::scripted()
    } else {
        PagePolicy::default()
    }
}

/// [`render`] under `policy` (a page that runs our script).
pub(super) fn render_with<T: Template>(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    policy: &PagePolicy,
    build: impl FnOnce(String) -> T,
) -> Result<Response, Error> {
    with_csrf(state, headers, |csrf| {
        pages::render(&build(csrf.to_owned()), status, policy)
    })
}

/// `GET /account`: who is signed in, and the way to everything else.
pub async fn overview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Person(session): Person,
) -> Result<Response, Error> {
    let user = users::find(&state.store, &session.user_id).await?;
    let mut facts: Vec<(&'static str, String)> = profile_fields(&user)
        .into_iter()
        .map(|field| (field.label, field.value))
        .collect();
    if user.claims.phone_number.is_some() {
        let verified = if user.claims.phone_number_verified {
            "yes"
        } else {
            "no"
        };
        facts.push(("Phone number verified", verified.to_owned()));
    }
    render(&state, &headers, StatusCode::OK, |csrf| OverviewPage {
        user: &user,
        facts,
        sid: &session.sid,
        csrf,
    })
}

/// `GET /account/sessions`: the person's live browser sessions.
pub async fn sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Person(current): Person,
    Query(notice): Query<Notice>,
) -> Result<Response, Error> {
    let listed = state.sessions().list(&current.user_id).await?;
    let now = state.clock.now();
    let sessions = listed
        .into_iter()
        .map(|s| SessionItem {
            current: s.sid == current.sid,
            device: s.device,
            ip: s.ip,
            signed_in: When::of(s.created_at, now),
            last_active: When::of(s.last_seen, now),
            sid: s.sid,
        })
        .collect();
    let notice = match notice.done.as_deref() {
        Some("ended") => Some("The session was signed out."),
        Some("others") => Some("Every other session was signed out."),
        _ => None,
    };
    render(&state, &headers, StatusCode::OK, |csrf| SessionsPage {
        sessions,
        sid: &current.sid,
        csrf,
        notice,
    })
}

/// `GET /account/apps`: the apps with access to the account.
pub async fn apps(
    State(state): State<AppState>,
    headers: HeaderMap,
    Person(session): Person,
    Query(notice): Query<Notice>,
) -> Result<Response, Error> {
    let found = users::apps_of(&state.store, &session.user_id).await?;
    let now = state.clock.now();
    let apps = found
        .into_iter()
        .map(|app| AppItem {
            scopes: app.scope.iter().map(|s| describe(s)).collect(),
            since: When::of(app.since, now),
            last_used: app.last_used.map(|at| When::of(at, now)),
            client_id: app.client_id,
            name: app.name,
        })
        .collect();
    let notice = (notice.done.as_deref() == Some("removed")).then_some(
        "The app's access was removed: its tokens no longer work, and an app that asks for consent will ask again.",
    );
    render(&state, &headers, StatusCode::OK, |csrf| AppsPage {
        apps,
        sid: &session.sid,
        csrf,
        notice,
    })
}

/// `GET /account/activity`: the person's recent security events, newest first.
pub async fn activity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Person(session): Person,
) -> Result<Response, Error> {
    let store = &state.store;
    let (events, failures) = tokio::try_join!(
        store.security_events(&session.user_id, ACTIVITY_SHOWN, false),
        store.security_events(&session.user_id, FAILURES_SHOWN, true),
    )?;
    let now = state.clock.now();
    let items = |rows: Vec<crate::store::AuditRow>| {
        rows.into_iter()
            .map(|row| EventItem {
                what: event_in_words(&row.kind),
                detail: row.detail,
                when: When::of(row.at, now),
            })
            .collect()
    };
    render(&state, &headers, StatusCode::OK, |csrf| ActivityPage {
        events: items(events),
        failures: items(failures),
        sid: &session.sid,
        csrf,
    })
}

/// `GET /account/password`: the form to change the password, once the
/// sign-in is recent enough.
pub async fn password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Person(session): Person,
    Query(notice): Query<Notice>,
) -> Result<Response, Error> {
    if let Some(page) = recent_enough(&state, &headers, &session, AccountPage::Password).await? {
        return Ok(page);
    }
    let user = users::find(&state.store, &session.user_id).await?;
    let done = notice.done.as_deref() == Some("changed");
    let asks = super::security::ProofAsked::of(&state, &user).await?;
    let policy = proving_with_passkey(asks.passkey);
    render_with(&state, &headers, StatusCode::OK, &policy, |csrf| {
        PasswordPage {
            email: &user.email,
            sid: &session.sid,
            csrf,
            error: None,
            done,
            has_password: user.password_hash.is_some(),
            asks,
        }
    })
}

/// An audit event's kind in words.
fn event_in_words(kind: &str) -> String {
    match kind {
        "signed_in" => "Signed in",
        "sign_in_failed" => "Failed sign-in attempt",
        "password_changed" => "Password changed",
        "user_signed_out_everywhere" => "Signed out everywhere",
        "session_ended" => "Session signed out",
        "app_access_removed" => "App access removed",
        "refresh_token_reuse" => "Reuse of a stolen or replayed refresh token detected",
        "totp_added" => "Authenticator app turned on",
        "password_accepted" => "Password entered; two-step verification asked for",
        "totp_removed" => "Authenticator app turned off",
        "second_factor_failed" => "Two-step verification not passed",
        "recovery_code_used" => "Recovery code used",
        "recovery_codes_regenerated" => "New recovery codes made",
        "passkey_added" => "Passkey added",
        "passkey_renamed" => "Passkey renamed",
        "passkey_removed" => "Passkey removed",
        "passkey_counter_regression" => "Passkey refused: it may have been copied",
        "factors_reset" => "Sign-in methods reset by an administrator",
        other => return other.replace('_', " "),
    }
    .to_owned()
}
