//! The rules a user's fields follow. Each check returns the normalised value or
//! a [`UserError::Invalid`] naming the field.

use super::registry::UserError;

/// Shortest password accepted, in characters (NIST SP 800-63B: at least 8).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in characters: bounds the work one request can ask for.
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest email address (RFC 5321 path limit less the angle brackets).
const MAX_EMAIL_CHARS: usize = 254;
/// Longest name or preferred username.
const MAX_TEXT_CHARS: usize = 200;

fn invalid(field: &'static str, message: impl Into<String>) -> UserError {
    UserError::Invalid {
        field,
        message: message.into(),
    }
}

/// The form an email is stored and looked up in: trimmed and lowercased.
pub(super) fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A normalised email address with exactly one `@` between a non-empty local
/// part and domain, and no whitespace or control characters.
pub(super) fn email(email: &str) -> Result<String, UserError> {
    // Lengths count what was sent (as the OpenAPI document's maxLength does),
    // before trimming and lowercasing.
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(invalid(
            "email",
            format!("must be at most {MAX_EMAIL_CHARS} characters"),
        ));
    }
    let email = normalise_email(email);
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "email",
            "must not contain spaces or control characters",
        ));
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(email)
        }
        _ => Err(invalid("email", "must look like name@example.com")),
    }
}

/// A password of acceptable length; any characters are allowed.
pub fn password(password: &str) -> Result<(), UserError> {
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(invalid(
            "password",
            format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"),
        ))
    }
}

/// An optional display text, trimmed; empty means none.
pub(super) fn text(
    field: &'static str,
    value: Option<String>,
) -> Result<Option<String>, UserError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.chars().count() > MAX_TEXT_CHARS || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("must be at most {MAX_TEXT_CHARS} printable characters"),
        ));
    }
    let value = value.trim();
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: Result<impl std::fmt::Debug, UserError>) -> &'static str {
        match result {
            Err(UserError::Invalid { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a@b@c",
            "ada lovelace@example.com",
            "ada\u{0}@example.com",
            long.as_str(),
        ] {
            assert_eq!(field(email(bad)), "email", "{bad:?}");
        }
    }

    #[test]
    fn passwords_have_bounded_length() {
        assert!(password("12345678").is_ok());
        assert!(password(&"x".repeat(1024)).is_ok());
        assert_eq!(field(password("1234567")), "password");
        assert_eq!(field(password(&"x".repeat(1025))), "password");
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(
            text("name", Some(" Ada ".into())).unwrap().as_deref(),
            Some("Ada")
        );
        assert_eq!(text("name", Some("  ".into())).unwrap(), None);
        assert_eq!(field(text("name", Some("a\nb".into()))), "name");
        assert_eq!(
            field(text("preferred_username", Some("x".repeat(201)))),
            "preferred_username"
        );
    }
}
