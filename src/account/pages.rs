//! The account pages (GET): each needs a signed-in browser and shows only the
//! signed-in person's own data.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::when::When;
use super::{recent_enough, signed_in};
use crate::app::AppState;
use crate::http::pages::{self, PagePolicy};
use crate::interaction::AccountPage;
use crate::login::csrf;
use crate::login::pages::{describe, failure};
use crate::login::session::{self, Session};
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
#[template(path = "account_password.html")]
pub(super) struct PasswordPage<'a> {
    pub(super) email: &'a str,
    pub(super) sid: &'a str,
    pub(super) csrf: String,
    pub(super) error: Option<&'a str>,
    pub(super) done: bool,
}

/// What a page's query may carry: a notice after a change.
#[derive(Deserialize, Default)]
pub(super) struct Notice {
    done: Option<String>,
}

/// Renders `build(csrf)` with the browser's CSRF token (setting its cookie
/// when new). Account pages submit only to themselves.
pub(super) fn render<T: Template>(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    build: impl FnOnce(String) -> T,
) -> Response {
    let Ok((csrf, cookie)) = csrf::token(state.cookies, headers) else {
        return failure("no randomness for a CSRF token");
    };
    let mut response = pages::render(&build(csrf), status, &PagePolicy::default());
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// The signed-in person and their record, or the page to show instead.
async fn person(
    state: &AppState,
    headers: &HeaderMap,
    page: AccountPage,
) -> Result<(Session, User), Response> {
    let session = signed_in(state, headers, page).await?;
    match users::find(&state.store, &session.user_id).await {
        Ok(user) => Ok((session, user)),
        Err(e) => Err(failure(&e.to_string())),
    }
}

/// `GET /account`: who is signed in, and the way to everything else.
pub async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (session, user) = match person(&state, &headers, AccountPage::Overview).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    render(&state, &headers, StatusCode::OK, |csrf| OverviewPage {
        user: &user,
        sid: &session.sid,
        csrf,
    })
}

/// `GET /account/sessions`: the person's live browser sessions.
pub async fn sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(notice): Query<Notice>,
) -> Response {
    let current = match signed_in(&state, &headers, AccountPage::Sessions).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let listed = match session::list(&state, &current.user_id).await {
        Ok(listed) => listed,
        Err(e) => return failure(&e.to_string()),
    };
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
    Query(notice): Query<Notice>,
) -> Response {
    let session = match signed_in(&state, &headers, AccountPage::Apps).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let found = match users::apps_of(&state.store, &session.user_id).await {
        Ok(found) => found,
        Err(e) => return failure(&e.to_string()),
    };
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
pub async fn activity(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers, AccountPage::Activity).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let store = &state.store;
    let (events, failures) = match tokio::try_join!(
        store.security_events(&session.user_id, ACTIVITY_SHOWN, false),
        store.security_events(&session.user_id, FAILURES_SHOWN, true),
    ) {
        Ok(found) => found,
        Err(e) => return failure(&e.to_string()),
    };
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
    Query(notice): Query<Notice>,
) -> Response {
    let (session, user) = match person(&state, &headers, AccountPage::Password).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if let Err(page) = recent_enough(
        &state,
        &headers,
        &session,
        &user.email,
        AccountPage::Password,
    )
    .await
    {
        return page;
    }
    let done = notice.done.as_deref() == Some("changed");
    render(&state, &headers, StatusCode::OK, |csrf| PasswordPage {
        email: &user.email,
        sid: &session.sid,
        csrf,
        error: None,
        done,
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
        other => return other.replace('_', " "),
    }
    .to_owned()
}
