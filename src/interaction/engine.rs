//! What an interaction needs next. [`proceed`] decides it for the purpose's
//! owner; [`complete_first_factor`], [`complete_sign_in`] and
//! [`complete_consent`] record what a page settled and say where the browser
//! goes to ask again. How strong a sign-in must be ([`Level`]) is decided
//! here too: a session below the demanded level is asked for the missing
//! factor, and a person who cannot reach it is refused, never let through.

use super::store::{advance, finish, save};
use super::{
    Answer, FirstFactor, Interaction, Interactions, Purpose, ServiceError, SignedIn, Step,
};
use crate::clock::UnixTime;
use crate::oauth::scope::Scope;
use crate::oidc::acr::Level;
use serde::{Deserialize, Serialize};

/// What the engine decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Show the sign-in page for the interaction now stored under this id.
    SignIn(String),
    /// Show the consent page for the interaction now stored under this id, to
    /// the session that signed in.
    Consent(String),
    /// Show the second-factor page for the interaction now stored under
    /// `id`, to the person who passed `first` (a session whose sign-in is
    /// weaker than the purpose demands).
    SecondFactor {
        /// Where the interaction is stored now.
        id: String,
        /// What the person passed already.
        first: FirstFactor,
    },
    /// Everything the purpose demands is settled, and the interaction is
    /// finished: serve the purpose now, once.
    Done,
    /// The purpose cannot be served; say why to whoever asked.
    Refused(Refusal),
    /// The interaction finished or moved on meanwhile (another window got
    /// there first, or a form or link was used twice): nothing happens.
    OutOfDate,
}

/// Why a purpose cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// A sign-in is needed, and pages may not be shown.
    LoginRequired,
    /// Consent is needed, and pages may not be shown.
    ConsentRequired,
    /// Someone other than the person demanded signed in.
    OtherPerson,
    /// The person denied consent.
    Denied,
    /// The purpose demands a stronger sign-in than the person can make (a
    /// passkey, and they have none): refused, never downgraded.
    Unmeetable,
}

/// Decides what `interaction` needs next for the browser signed in as
/// `session` (if any) and stores its next step. `id` is where it is stored
/// already — `None` for one just begun (at [`Step::SignIn`]) — and its step
/// settles only what it records, and only for the session that settled it.
/// When nothing is left, the stored interaction is taken, so of two requests
/// resuming it at once exactly one gets [`Outcome::Done`]. `browser` names
/// the browser asking (a hash of its CSRF token): a second factor it is asked
/// for is taken only from it.
pub async fn proceed(
    deps: Interactions<'_>,
    id: Option<&str>,
    interaction: Interaction,
    session: Option<&SignedIn>,
    browser: &str,
) -> Result<Outcome, ServiceError> {
    let (settled_by, answer) = match &interaction.step {
        Step::SignIn if id.is_none() => (None, Answer::NotAsked),
        Step::Refused(why) if id.is_some() => {
            return finished(deps, id, Outcome::Refused(*why)).await;
        }
        // A page's step: only its form moves it on.
        Step::SignIn | Step::SecondFactor(_) | Step::Consent(_) | Step::Refused(_) => {
            return Ok(Outcome::OutOfDate);
        }
        Step::Settled(by, answer) => (Some(by.clone()), *answer),
    };
    if settled_by.is_some() && settled_by.as_ref() != session {
        return Ok(Outcome::OutOfDate);
    }
    if answer == Answer::Denied {
        return finished(deps, id, Outcome::Refused(Refusal::Denied)).await;
    }
    let demands = &interaction.demands;
    // Signed in for this interaction — but time may have passed on the consent
    // page, and a step-up keeps the first sign-in's time: `max_age` is
    // measured when the purpose is served.
    let signed_in_here = settled_by
        .as_ref()
        .is_some_and(|by| !outlived_max_age(demands.max_age, by.auth_time, deps.now));
    let session = match session {
        Some(session) if signed_in_here || !needs_sign_in(&interaction, session, deps.now) => {
            session
        }
        _ if demands.no_pages => return Ok(Outcome::Refused(Refusal::LoginRequired)),
        _ => {
            let next = Interaction {
                step: Step::SignIn,
                ..interaction
            };
            return Ok(keep(deps, id, &next)
                .await?
                .map_or(Outcome::OutOfDate, Outcome::SignIn));
        }
    };
    if demands
        .person
        .as_ref()
        .is_some_and(|person| *person != session.user_id)
    {
        // Only reachable right after a sign-in: someone other than the person
        // demanded signed in. The purpose is never served for them.
        return finished(deps, id, Outcome::Refused(Refusal::OtherPerson)).await;
    }
    let demanded = demands.acr.unwrap_or(Level::OneFactor);
    if Level::of_amr(&session.amr) < demanded {
        // Without pages the answer is the same whatever the person has: an
        // app never learns through `prompt=none` which factors they hold.
        if demands.no_pages {
            return Ok(Outcome::Refused(Refusal::LoginRequired));
        }
        if reachable(deps, &session.user_id).await? < demanded {
            return finished(deps, id, Outcome::Refused(Refusal::Unmeetable)).await;
        }
        // Only the missing factor is asked for; passing it upgrades this same
        // session (same sid and auth_time, a new cookie) to claim both.
        let first = FirstFactor {
            user_id: session.user_id.clone(),
            sign_outs: session.sign_outs,
            amr: session.amr.clone(),
            browser: browser.to_owned(),
            session: Some(session.sid.clone()),
        };
        let next = Interaction {
            step: Step::SecondFactor(first.clone()),
            ..interaction
        };
        return Ok(keep(deps, id, &next)
            .await?
            .map_or(Outcome::OutOfDate, |id| Outcome::SecondFactor { id, first }));
    }
    // An "allow" counts while the consent it stored stands: removed meanwhile
    // (the person removed the app in another tab), it is asked for again.
    let consent_missing = match answer {
        Answer::Allowed => !consent_stands(deps, &interaction, session).await,
        _ => needs_consent(deps, &interaction, session).await,
    };
    if consent_missing {
        if demands.no_pages {
            return Ok(Outcome::Refused(Refusal::ConsentRequired));
        }
        let next = Interaction {
            step: Step::Consent(session.clone()),
            ..interaction
        };
        return Ok(keep(deps, id, &next)
            .await?
            .map_or(Outcome::OutOfDate, Outcome::Consent));
    }
    finished(deps, id, Outcome::Done).await
}

/// What follows a first factor passed at an interaction's sign-in step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterFirstFactor {
    /// Nothing more is needed: start the session and [`complete_sign_in`].
    SignInNow,
    /// Show the second-factor page for the interaction now stored under this id.
    SecondFactor(String),
    /// The purpose cannot be served: send the browser here, where the
    /// purpose hears why ([`Refusal::Unmeetable`]).
    Refused(String),
    /// The interaction is not at its sign-in step (any more).
    OutOfDate,
}

/// Decides what follows `first` at interaction `id`'s sign-in step, before
/// any session exists: a second factor in the same browser
/// ([`Step::SecondFactor`]) when the person has an authenticator app and
/// passed only a password, or when the purpose demands more than `first`
/// reached; a refusal when the person cannot reach what the purpose demands;
/// else the sign-in, now.
pub async fn complete_first_factor(
    deps: Interactions<'_>,
    id: &str,
    interaction: Interaction,
    first: FirstFactor,
) -> Result<AfterFirstFactor, ServiceError> {
    if interaction.step != Step::SignIn {
        return Ok(AfterFirstFactor::OutOfDate);
    }
    let reached = Level::of_amr(&first.amr);
    let demanded = interaction.demands.acr.unwrap_or(Level::OneFactor);
    let refused = demanded > reached && reachable(deps, &first.user_id).await? < demanded;
    if refused {
        let next = Interaction {
            step: Step::Refused(Refusal::Unmeetable),
            ..interaction
        };
        return Ok(resume_at(deps, id, &next)
            .await?
            .map_or(AfterFirstFactor::OutOfDate, AfterFirstFactor::Refused));
    }
    let app_is_on =
        reached == Level::OneFactor && has_authenticator_app(deps, &first.user_id).await?;
    if !app_is_on && demanded <= reached {
        return Ok(AfterFirstFactor::SignInNow);
    }
    let next = Interaction {
        step: Step::SecondFactor(first),
        ..interaction
    };
    Ok(advance(deps, id, &next)
        .await?
        .map_or(AfterFirstFactor::OutOfDate, AfterFirstFactor::SecondFactor))
}

/// Whether `user_id` has a confirmed authenticator app.
async fn has_authenticator_app(
    deps: Interactions<'_>,
    user_id: &str,
) -> Result<bool, ServiceError> {
    Ok(deps
        .store
        .totp_of(user_id)
        .await?
        .is_some_and(|row| row.confirmed_at.is_some()))
}

/// The strongest sign-in `user_id` can make with what they have: a passkey
/// (when passkeys work here) is phishing-resistant, an authenticator app
/// multi-factor, a password alone one factor.
async fn reachable(deps: Interactions<'_>, user_id: &str) -> Result<Level, ServiceError> {
    if deps.passkeys && deps.store.passkey_count(user_id).await? > 0 {
        return Ok(Level::PhishingResistant);
    }
    if has_authenticator_app(deps, user_id).await? {
        return Ok(Level::MultiFactor);
    }
    Ok(Level::OneFactor)
}

/// Records that the interaction `id` was signed in by `session`: at its
/// sign-in step, or at its second-factor step by the person who passed the
/// first. Returns where the browser goes next, or `None` when the
/// interaction finished or moved on meanwhile.
pub async fn complete_sign_in(
    deps: Interactions<'_>,
    id: &str,
    interaction: Interaction,
    session: SignedIn,
) -> Result<Option<String>, ServiceError> {
    let may_complete = match &interaction.step {
        Step::SignIn => true,
        Step::SecondFactor(first) => first.user_id == session.user_id,
        Step::Consent(_) | Step::Settled(..) | Step::Refused(_) => false,
    };
    if !may_complete {
        return Ok(None);
    }
    let next = Interaction {
        step: Step::Settled(session, Answer::NotAsked),
        ..interaction
    };
    resume_at(deps, id, &next).await
}

/// Records the answer of `session` on the consent page of interaction `id`
/// (remembering an allowed scope for the app), when it is the session that
/// signed in for it. Returns where the browser goes next, or `None` when the
/// page is not the interaction's current one for this session.
pub async fn complete_consent(
    deps: Interactions<'_>,
    id: &str,
    interaction: Interaction,
    session: &SignedIn,
    allowed: bool,
) -> Result<Option<String>, ServiceError> {
    let Step::Consent(by) = &interaction.step else {
        return Ok(None);
    };
    if by != session {
        return Ok(None);
    }
    let by = by.clone();
    let answer = if allowed {
        Answer::Allowed
    } else {
        Answer::Denied
    };
    let next = Interaction {
        step: Step::Settled(by.clone(), answer),
        ..interaction
    };
    // The step moves on first, atomically: of an "allow" and a "deny" posted
    // together only the one that moved it counts, and only an "allow" that
    // counts is remembered.
    let Some(path) = resume_at(deps, id, &next).await? else {
        return Ok(None);
    };
    if allowed && let Purpose::Authorize { app, .. } = &next.purpose {
        remember_consent(deps, &by.user_id, &app.client_id, &app.scope).await?;
    }
    Ok(Some(path))
}

/// Moves interaction `id` on to `next`; returns where the browser resumes it.
async fn resume_at(
    deps: Interactions<'_>,
    id: &str,
    next: &Interaction,
) -> Result<Option<String>, ServiceError> {
    Ok(advance(deps, id, next)
        .await?
        .map(|new_id| next.purpose.resume_path(&new_id)))
}

/// Adds `scope` to what the person agreed to share with the app before.
async fn remember_consent(
    deps: Interactions<'_>,
    user_id: &str,
    client_id: &str,
    scope: &str,
) -> Result<(), ServiceError> {
    let previous = deps.store.get_consent(user_id, client_id).await?;
    let mut agreed: Vec<String> = previous
        .and_then(|text| Scope::parse(&text).ok())
        .map(|s| s.tokens().to_vec())
        .unwrap_or_default();
    agreed.extend(
        Scope::parse(scope)
            .unwrap_or_default()
            .tokens()
            .iter()
            .cloned(),
    );
    let agreed = Scope::from_tokens(agreed.iter().map(String::as_str)).unwrap_or_default();
    deps.store
        .put_consent(user_id, client_id, &agreed.to_string(), deps.now)
        .await?;
    Ok(())
}

/// Stores `next`: a new interaction, or the next step of the one at `id`
/// (under a new id). `None`: that one finished or moved on meanwhile.
async fn keep(
    deps: Interactions<'_>,
    id: Option<&str>,
    next: &Interaction,
) -> Result<Option<String>, ServiceError> {
    match id {
        Some(id) => advance(deps, id, next).await,
        None => save(deps, next).await.map(Some),
    }
}

/// `outcome`, once the stored interaction (if any) is taken by this request.
async fn finished(
    deps: Interactions<'_>,
    id: Option<&str>,
    outcome: Outcome,
) -> Result<Outcome, ServiceError> {
    match id {
        Some(id) if !finish(deps, id).await? => Ok(Outcome::OutOfDate),
        _ => Ok(outcome),
    }
}

/// Whether an authentication at `auth_time` is older than a positive
/// `max_age` allows (`max_age=0` is satisfied by the sign-in made for this
/// very interaction).
fn outlived_max_age(max_age: Option<i64>, auth_time: UnixTime, now: UnixTime) -> bool {
    max_age.is_some_and(|max_age| max_age > 0 && now - auth_time > max_age)
}

/// Whether the browser's sign-in does not do for the interaction: too old,
/// not fresh when it must be, or someone else's.
fn needs_sign_in(interaction: &Interaction, session: &SignedIn, now: UnixTime) -> bool {
    let demands = &interaction.demands;
    let too_old = demands
        .max_age
        .is_some_and(|max_age| max_age == 0 || now - session.auth_time > max_age);
    let other_person = demands
        .person
        .as_ref()
        .is_some_and(|person| *person != session.user_id);
    demands.fresh || too_old || other_person
}

/// Whether the consent page must be shown: only for an app that is not first
/// party, when asked for, or when the scope goes beyond what was agreed before.
async fn needs_consent(
    deps: Interactions<'_>,
    interaction: &Interaction,
    session: &SignedIn,
) -> bool {
    let asked = interaction.demands.ask_consent
        && matches!(&interaction.purpose, Purpose::Authorize { app, .. } if !app.first_party);
    asked || !consent_stands(deps, interaction, session).await
}

/// Whether what the person agreed to before covers the interaction's scope
/// (always, for the account area and first-party apps). A consent that cannot
/// be read does not stand: the person is asked again.
async fn consent_stands(
    deps: Interactions<'_>,
    interaction: &Interaction,
    session: &SignedIn,
) -> bool {
    let Purpose::Authorize { app, .. } = &interaction.purpose else {
        return true;
    };
    if app.first_party {
        return true;
    }
    let given = match deps
        .store
        .get_consent(&session.user_id, &app.client_id)
        .await
    {
        Ok(given) => given,
        Err(e) => {
            tracing::warn!(error = %e, "could not read consent; asking again");
            return false;
        }
    };
    let requested = Scope::parse(&app.scope).unwrap_or_default();
    given
        .and_then(|text| Scope::parse(&text).ok())
        .is_some_and(|given| requested.is_subset_of(&given))
}
