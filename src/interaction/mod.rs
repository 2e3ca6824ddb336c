//! The interaction engine: everything a person does in the browser before a
//! purpose is served — signing in, a second factor, consenting — as one
//! explicit, server-side record with a purpose and a step.
//!
//! - The **purpose** says what the interaction is for and who acts once it is
//!   done: an app's authorization request (the authorization endpoint turns
//!   "done" into a code) or the account area (which opens the page asked for).
//! - The **demands** say what the purpose asks of the sign-in: how recent,
//!   how strong ([`Level`]), which person, whether pages may be shown,
//!   whether consent is needed.
//! - The **step** says where the interaction stands. It is stored under a
//!   random id that the step's form carries; each form can complete only the
//!   step its interaction is in, and every completed step moves the
//!   interaction to a new id, so a stale tab or a replayed form finds its id
//!   "moved" and gets the out-of-date page.
//!
//! [`engine::proceed`] is the only place that decides what an interaction
//! needs next. Pages complete steps through [`engine::complete_sign_in`] and
//! [`engine::complete_consent`], which record what was settled and send the
//! browser back to the purpose ([`Purpose::resume_path`]) to ask the engine
//! again. The engine returns values and knows no HTTP types.

pub mod engine;
pub mod store;

use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::clock::UnixTime;
use crate::http::paths;
use crate::oidc::acr::Level;
use crate::sessions::Session;
use crate::store::Store;

pub use self::engine::{Outcome, Refusal};
pub use self::store::Found;
pub use crate::service_error::ServiceError;

/// What the engine works with: the cache holding interactions, the store
/// holding consents, and the bounds on unauthenticated state.
#[derive(Clone, Copy)]
pub struct Interactions<'a> {
    /// Where interactions live.
    pub cache: &'a Cache,
    /// Where consents live.
    pub store: &'a Store,
    /// Bounds on interactions not yet signed in.
    pub limits: crate::admission::Limits,
    /// Whether passkeys can be used on this server (a person's passkeys
    /// count toward what they can reach only then).
    pub passkeys: bool,
    /// The time now.
    pub now: UnixTime,
}

/// An interaction: its purpose, what the purpose demands, and its step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Interaction {
    /// What it is for.
    pub purpose: Purpose,
    /// What the sign-in must satisfy.
    pub demands: Demands,
    /// Where it stands.
    pub step: Step,
}

/// What an interaction is for, and so where its pages send the browser once a
/// step is done.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Purpose {
    /// An app's authorization request. The engine reads the app's name, scope
    /// and origin; the request itself belongs to the authorization endpoint.
    Authorize {
        /// The app asking.
        app: App,
        /// The validated request, opaque here.
        request: serde_json::Value,
    },
    /// The account area, opening `page` once signed in.
    Account {
        /// The page to open.
        page: AccountPage,
    },
}

/// The account page an account interaction returns to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountPage {
    /// `/account`.
    Overview,
    /// `/account/password`.
    Password,
    /// `/account/sessions`.
    Sessions,
    /// `/account/apps`.
    Apps,
    /// `/account/activity`.
    Activity,
    /// `/account/profile`.
    Profile,
    /// `/account/security`: sign-in methods (second factors).
    Security,
}

impl AccountPage {
    /// The page's path.
    pub fn path(self) -> &'static str {
        match self {
            AccountPage::Overview => paths::ACCOUNT,
            AccountPage::Password => paths::ACCOUNT_PASSWORD,
            AccountPage::Sessions => paths::ACCOUNT_SESSIONS,
            AccountPage::Apps => paths::ACCOUNT_APPS,
            AccountPage::Activity => paths::ACCOUNT_ACTIVITY,
            AccountPage::Profile => paths::ACCOUNT_PROFILE,
            AccountPage::Security => paths::ACCOUNT_SECURITY,
        }
    }
}

/// The app an authorization interaction is for, as its pages show it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct App {
    /// Its client id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// The scope it asks for, space-separated.
    pub scope: String,
    /// First-party apps are never asked consent for.
    pub first_party: bool,
    /// Where its answer goes (CSP `form-action` must allow the redirects
    /// that follow our forms).
    pub redirect_origin: Option<String>,
}

/// What the purpose demands of the sign-in.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Demands {
    /// Authenticated at most this many seconds ago; `0` is a sign-in made for
    /// this very interaction.
    pub max_age: Option<i64>,
    /// A sign-in made for this interaction, whatever the session's age.
    pub fresh: bool,
    /// The person who must be signed in.
    pub person: Option<String>,
    /// Pages may not be shown (`prompt=none`): what would need one is refused.
    pub no_pages: bool,
    /// Ask for consent even when it was given before (`prompt=consent`).
    pub ask_consent: bool,
    /// The email to prefill on the sign-in page.
    pub login_hint: Option<String>,
    /// How strongly the person must have signed in ([`Level`]): a session
    /// below it is asked for the missing factor.
    #[serde(default)]
    pub acr: Option<Level>,
}

/// Where an interaction stands, recorded server-side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// The person must sign in: only the sign-in form moves it on.
    SignIn,
    /// The person named passed the first factor and must pass their second,
    /// in the same browser: only the second-factor form moves it on.
    SecondFactor(FirstFactor),
    /// Sign-in is settled by the session named; only a consent form from that
    /// session moves it on.
    Consent(SignedIn),
    /// The purpose cannot be served (decided at a page's step, before any
    /// session exists); the purpose hears why when it asks the engine again.
    Refused(Refusal),
    /// The pages are done; the purpose asks the engine again
    /// ([`engine::proceed`]) from the session named.
    Settled(SignedIn, Answer),
}

/// A person who passed the first factor (the password) of an interaction's
/// sign-in, before their session exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstFactor {
    /// The person.
    pub user_id: String,
    /// Their sign-out count read with the password
    /// ([`crate::sessions::NewSession::sign_outs`]).
    pub sign_outs: i64,
    /// How the first factor was passed (RFC 8176), e.g. `["pwd"]`.
    pub amr: Vec<String>,
    /// Names the browser that passed it (a hash of its CSRF token): the
    /// second factor is taken only from that browser.
    pub browser: String,
    /// For a step-up, the public id of the browser's session that passed the
    /// first factor: the second is taken only while the browser is still in
    /// that session, and adds to it rather than starting another.
    #[serde(default)]
    pub session: Option<String>,
}

impl FirstFactor {
    /// Adds the methods `more` (RFC 8176) of a further factor passed, each
    /// once, and `mfa`: with the first, it makes two.
    pub fn add_methods<S: AsRef<str>>(&mut self, more: &[S]) {
        for method in more.iter().map(AsRef::as_ref).chain(["mfa"]) {
            if !self.amr.iter().any(|m| m == method) {
                self.amr.push(method.to_owned());
            }
        }
    }

    /// How the sign-in this factor completes is described in the person's
    /// security activity: `factor` names what was passed now.
    pub fn described(&self, factor: &str) -> String {
        match self.session {
            Some(_) => format!("stepped up with {factor}"),
            None => format!("with a password and {factor}"),
        }
    }
}

/// What the person answered on the consent page, if they were asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// Not asked (yet).
    NotAsked,
    /// Allowed.
    Allowed,
    /// Denied.
    Denied,
}

/// The sign-in that settled an interaction's authentication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    /// The public id of the session.
    pub sid: String,
    /// The person it belongs to.
    pub user_id: String,
    /// The authentication time.
    pub auth_time: UnixTime,
    /// How the person signed in (RFC 8176).
    #[serde(default)]
    pub amr: Vec<String>,
    /// The person's sign-out count when the session began.
    #[serde(default)]
    pub sign_outs: i64,
}

impl From<&Session> for SignedIn {
    fn from(session: &Session) -> Self {
        Self {
            sid: session.sid.clone(),
            user_id: session.user_id.clone(),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            sign_outs: session.sign_outs,
        }
    }
}

impl Purpose {
    /// Where the browser goes to ask the engine again once one of the
    /// engine's pages completed a step of interaction `id`.
    pub fn resume_path(&self, id: &str) -> String {
        match self {
            Purpose::Authorize { .. } => format!("{}?interaction={id}", paths::AUTHORIZE_RESUME),
            Purpose::Account { .. } => format!("{}?interaction={id}", paths::ACCOUNT_RESUME),
        }
    }
}
