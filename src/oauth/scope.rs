//! Scopes (RFC 6749 §3.3): a space-separated set of scope tokens.

use std::fmt;

/// The scope that lets a client call the admin API.
pub const ADMIN_SCOPE: &str = "gatehouse:admin";

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
    fn subset() {
        let allowed = Scope::parse("a b c").unwrap();
        assert!(Scope::parse("c a").unwrap().is_subset_of(&allowed));
        assert!(!Scope::parse("a d").unwrap().is_subset_of(&allowed));
    }
}
