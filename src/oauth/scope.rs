//! Scopes (RFC 6749 §3.3): a space-separated set of scope tokens.

use std::fmt;

/// The scope that lets a client call the admin API.
pub const ADMIN_SCOPE: &str = "gatehouse:admin";

/// The scope values Gatehouse itself implements, published as `scopes_supported`.
pub const SUPPORTED_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// An ordered set of valid scope tokens, without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

/// A scope string with a character RFC 6749 §3.3 does not allow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("scope token {0:?} contains a character outside RFC 6749 §3.3 (NQCHAR)")]
pub struct InvalidScope(pub String);

impl Scope {
    /// Parses a space-separated scope string; repeated tokens collapse into one.
    pub fn parse(text: &str) -> Result<Self, InvalidScope> {
        Self::from_tokens(text.split(' ').filter(|t| !t.is_empty()))
    }

    /// Builds a scope from separate tokens, validating each.
    pub fn from_tokens<'a>(
        tokens: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, InvalidScope> {
        let mut scope = Vec::<String>::new();
        for token in tokens {
            if !token.bytes().all(is_nqchar) || token.is_empty() {
                return Err(InvalidScope(token.to_owned()));
            }
            if !scope.iter().any(|t| t == token) {
                scope.push(token.to_owned());
            }
        }
        Ok(Self(scope))
    }

    /// Whether no scope token is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `token` is part of this scope.
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// Whether every token of `self` is in `allowed`.
    pub fn is_subset_of(&self, allowed: &Scope) -> bool {
        self.0.iter().all(|t| allowed.contains(t))
    }

    /// This scope without the values the provider does not offer at all, which
    /// an authorization request SHOULD have ignored (OIDC Core §3.1.2.1). A value
    /// is offered when Gatehouse implements it ([`SUPPORTED_SCOPES`]), it is the
    /// admin scope, or `registered` (the client's own registration) names it;
    /// an offered value the client may not ask for stays, to be refused.
    pub fn without_unknown(&self, registered: &Scope) -> Scope {
        Scope(
            self.0
                .iter()
                .filter(|t| {
                    SUPPORTED_SCOPES.contains(&t.as_str())
                        || *t == ADMIN_SCOPE
                        || registered.contains(t)
                })
                .cloned()
                .collect(),
        )
    }

    /// The tokens, in the order given.
    pub fn tokens(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// NQCHAR = %x21 / %x23-5B / %x5D-7E
fn is_nqchar(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dedupes_and_rejects_bad_characters() {
        let scope = Scope::parse("a  b a").unwrap();
        assert_eq!(scope.to_string(), "a b");
        assert!(Scope::parse("a\"b").is_err());
        assert!(Scope::parse("a\\b").is_err());
        assert!(Scope::parse("ü").is_err());
        assert!(Scope::parse("").unwrap().is_empty());
    }

    #[test]
    fn values_nobody_offers_are_dropped_offered_ones_kept() {
        let registered = Scope::parse("openid api:read").unwrap();
        let asked = Scope::parse("openid address api:read email gatehouse:admin x").unwrap();
        assert_eq!(
            asked.without_unknown(&registered).to_string(),
            "openid api:read email gatehouse:admin"
        );
    }

    #[test]
    fn subset() {
        let allowed = Scope::parse("a b c").unwrap();
        assert!(Scope::parse("c a").unwrap().is_subset_of(&allowed));
        assert!(!Scope::parse("a d").unwrap().is_subset_of(&allowed));
    }
}
