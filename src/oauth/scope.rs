//! Scopes (RFC 6749 §3.3): a space-separated set of scope tokens.

use std::collections::HashSet;
use std::fmt;

/// The scope that lets a client call the admin API.
pub const ADMIN_SCOPE: &str = "gatehouse:admin";

/// The scope values Gatehouse itself implements, published as `scopes_supported`.
pub const SUPPORTED_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// An ordered set of valid scope tokens, without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

/// The most tokens a scope string may hold: far above any real request, low
/// enough that no request makes the server do much work (issue: 11,000 tokens).
pub const MAX_SCOPE_TOKENS: usize = 128;

/// The longest scope token accepted, bytes.
pub const MAX_TOKEN_LEN: usize = 255;

/// A scope string that is not acceptable. The message never echoes more than
/// [`MAX_TOKEN_LEN`] bytes of the input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidScope {
    /// A token with a character RFC 6749 §3.3 does not allow.
    #[error("scope token {0:?} contains a character outside RFC 6749 §3.3 (NQCHAR)")]
    Character(String),
    /// A token longer than [`MAX_TOKEN_LEN`].
    #[error("a scope token is longer than {MAX_TOKEN_LEN} characters")]
    TokenTooLong,
    /// More than [`MAX_SCOPE_TOKENS`] tokens.
    #[error("the scope has more than {MAX_SCOPE_TOKENS} tokens")]
    TooManyTokens,
}

impl Scope {
    /// Parses a space-separated scope string from a request or the store;
    /// repeated tokens collapse into one. Linear in the input, and refuses more
    /// than [`MAX_SCOPE_TOKENS`] tokens before doing further work.
    pub fn parse(text: &str) -> Result<Self, InvalidScope> {
        let tokens = text.split(' ').filter(|t| !t.is_empty());
        if tokens.clone().nth(MAX_SCOPE_TOKENS).is_some() {
            return Err(InvalidScope::TooManyTokens);
        }
        Self::from_tokens(tokens)
    }

    /// Builds a scope from separate tokens, validating each; linear in their
    /// number (duplicates are found through a hash set).
    pub fn from_tokens<'a>(
        tokens: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, InvalidScope> {
        let mut scope = Vec::<String>::new();
        let mut seen = HashSet::<&str>::new();
        for token in tokens {
            if token.len() > MAX_TOKEN_LEN {
                return Err(InvalidScope::TokenTooLong);
            }
            if !token.bytes().all(is_nqchar) || token.is_empty() {
                return Err(InvalidScope::Character(token.to_owned()));
            }
            if seen.insert(token) {
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

    /// Whether every token of `self` is in `allowed`; linear in both sizes.
    pub fn is_subset_of(&self, allowed: &Scope) -> bool {
        let allowed: HashSet<&str> = allowed.0.iter().map(String::as_str).collect();
        self.0.iter().all(|t| allowed.contains(t.as_str()))
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
        let asked = Scope::parse("openid urn:x api:read email gatehouse:admin x").unwrap();
        assert_eq!(
            asked.without_unknown(&registered).to_string(),
            "openid api:read email gatehouse:admin"
        );
    }

    #[test]
    fn a_maximum_size_scope_parses_and_one_token_more_is_refused() {
        let tokens: Vec<String> = (0..MAX_SCOPE_TOKENS)
            .map(|i| format!("{i:0>MAX_TOKEN_LEN$}"))
            .collect();
        let largest = tokens.join(" ");
        let scope = Scope::parse(&largest).unwrap();
        assert_eq!(scope.tokens().len(), MAX_SCOPE_TOKENS);
        assert!(scope.is_subset_of(&scope));
        let over = format!("{largest} one-more");
        assert_eq!(Scope::parse(&over), Err(InvalidScope::TooManyTokens));
        let long = "x".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(Scope::parse(&long), Err(InvalidScope::TokenTooLong));
        // Repeats count toward the bound: they cost work too.
        let repeated = vec!["a"; MAX_SCOPE_TOKENS + 1].join(" ");
        assert_eq!(Scope::parse(&repeated), Err(InvalidScope::TooManyTokens));
    }

    #[test]
    fn subset() {
        let allowed = Scope::parse("a b c").unwrap();
        assert!(Scope::parse("c a").unwrap().is_subset_of(&allowed));
        assert!(!Scope::parse("a d").unwrap().is_subset_of(&allowed));
    }
}
