//! Authentication context classes (`acr`, OIDC Core §2): how strongly a
//! person signed in, in three ordered levels that Gatehouse defines and
//! publishes in discovery (`acr_values_supported`):
//!
//! | value | level | met by |
//! |---|---|---|
//! | `urn:gatehouse:acr:1fa` | one factor | a password |
//! | `urn:gatehouse:acr:mfa` | multi-factor | a password and an authenticator code (or recovery code), a password and a passkey, or a passkey with user verification |
//! | `phr` | phishing-resistant (OpenID EAP ACR Values 1.0) | any sign-in that used a passkey |
//!
//! A higher level meets every lower one. A request's `acr_values` lists
//! acceptable classes in order of preference: the sign-in must meet the
//! weakest one Gatehouse knows (unknown values are ignored), and the ID token
//! reports the first listed class the sign-in meets; without `acr_values` it
//! reports the level reached. The level is read from the session's `amr`
//! (RFC 8176), so it follows what happened in that session.

use serde::{Deserialize, Serialize};

/// How strongly a person signed in; ordered from weakest to strongest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    /// One factor: a password.
    OneFactor,
    /// Two or more factors.
    MultiFactor,
    /// A passkey: the answer is bound to our origin, so a look-alike site
    /// cannot replay it.
    PhishingResistant,
}

/// Every class Gatehouse defines, weakest first: `acr_values_supported`.
pub const SUPPORTED: [&str; 3] = [ONE_FACTOR, MULTI_FACTOR, PHISHING_RESISTANT];

/// The class of [`Level::OneFactor`].
pub const ONE_FACTOR: &str = "urn:gatehouse:acr:1fa";
/// The class of [`Level::MultiFactor`].
pub const MULTI_FACTOR: &str = "urn:gatehouse:acr:mfa";
/// The class of [`Level::PhishingResistant`] (OpenID EAP ACR Values 1.0).
pub const PHISHING_RESISTANT: &str = "phr";

impl Level {
    /// The level a sign-in with the methods `amr` (RFC 8176) reached.
    pub fn of_amr<S: AsRef<str>>(amr: &[S]) -> Self {
        let has = |method: &str| amr.iter().any(|m| m.as_ref() == method);
        if has("hwk") || has("swk") {
            Level::PhishingResistant
        } else if has("mfa") {
            Level::MultiFactor
        } else {
            Level::OneFactor
        }
    }

    /// The level `value` names, if it is one of ours.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            ONE_FACTOR => Some(Level::OneFactor),
            MULTI_FACTOR => Some(Level::MultiFactor),
            PHISHING_RESISTANT => Some(Level::PhishingResistant),
            _ => None,
        }
    }

    /// Its class, as the `acr` claim says it.
    pub fn value(self) -> &'static str {
        match self {
            Level::OneFactor => ONE_FACTOR,
            Level::MultiFactor => MULTI_FACTOR,
            Level::PhishingResistant => PHISHING_RESISTANT,
        }
    }
}

/// What a list of requested classes demands: the weakest one Gatehouse
/// knows, or `None` when it names none of ours (nothing is demanded).
pub fn required_by<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Level> {
    values.into_iter().filter_map(Level::parse).min()
}

/// The `acr` to report for a sign-in that reached `level`, to a request
/// that listed `requested` and was held to `floor`: the first listed class
/// between the two (never weaker than what was enforced), else the level's
/// own class.
pub fn reported(level: Level, requested: &[String], floor: Option<Level>) -> &'static str {
    requested
        .iter()
        .filter_map(|value| Level::parse(value))
        .find(|asked| *asked <= level && Some(*asked) >= floor)
        .unwrap_or(level)
        .value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_methods_used() {
        assert_eq!(Level::of_amr(&["pwd"]), Level::OneFactor);
        assert_eq!(Level::of_amr(&["pwd", "otp", "mfa"]), Level::MultiFactor);
        assert_eq!(
            Level::of_amr(&["hwk", "user", "mfa"]),
            Level::PhishingResistant
        );
        assert_eq!(
            Level::of_amr(&["pwd", "swk", "user", "mfa"]),
            Level::PhishingResistant
        );
        let none: [&str; 0] = [];
        assert_eq!(Level::of_amr(&none), Level::OneFactor);
    }

    #[test]
    fn a_request_demands_its_weakest_known_class_and_hears_its_first_met_one() {
        assert_eq!(required_by(["phr", MULTI_FACTOR]), Some(Level::MultiFactor));
        assert_eq!(required_by(["urn:example:gold"]), None);
        let asked = vec!["phr".to_owned(), MULTI_FACTOR.to_owned()];
        let floor = required_by(asked.iter().map(String::as_str));
        assert_eq!(reported(Level::MultiFactor, &asked, floor), MULTI_FACTOR);
        assert_eq!(reported(Level::PhishingResistant, &asked, floor), "phr");
        assert_eq!(reported(Level::OneFactor, &[], None), ONE_FACTOR);
        let all: Vec<String> = SUPPORTED.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(reported(Level::MultiFactor, &all, None), ONE_FACTOR);
        // Held to multi-factor (a client that requires it): never reported weaker.
        let floor = Some(Level::MultiFactor);
        assert_eq!(reported(Level::MultiFactor, &all, floor), MULTI_FACTOR);
        let weak = vec![ONE_FACTOR.to_owned()];
        assert_eq!(reported(Level::PhishingResistant, &weak, floor), "phr");
    }
}
