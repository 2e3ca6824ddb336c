//! Redirect URIs: what may be registered (RFC 6749 §3.1.2, RFC 8252 §7, OAuth
//! 2.0 Security BCP §4.1) and how a requested one is matched against them.
//!
//! A registered URI is stored exactly as it was validated: it must already be
//! in the canonical form the URL parser produces, so the string compared at
//! `/authorize` is the string that was checked here. Matching is then plain
//! string equality, except for the port of a loopback IP literal (RFC 8252 §7.3).

use url::Url;

/// The longest redirect URI we register, in bytes.
pub const MAX_REDIRECT_URI_BYTES: usize = 2000;

/// Why a redirect URI cannot be registered, for the registration error.
pub(super) fn check(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_REDIRECT_URI_BYTES {
        return Err(format!(
            "longer than {MAX_REDIRECT_URI_BYTES} bytes; register a shorter URI"
        ));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{uri:?} contains whitespace or a control character"
        ));
    }
    if uri.contains('*') {
        return Err(format!(
            "{uri:?} contains '*': wildcards are not supported, register each URI exactly"
        ));
    }
    let parsed = Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URI ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{uri:?} must not contain credentials (user:password@)"
        ));
    }
    if parsed.fragment().is_some() {
        return Err(format!("{uri:?} must not contain a fragment"));
    }
    if parsed.as_str() != uri {
        return Err(format!(
            "{uri:?} is not in canonical form; register it as {:?}",
            parsed.as_str()
        ));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => match parsed.host_str() {
            Some("localhost" | "127.0.0.1" | "[::1]") => Ok(()),
            _ => Err(format!(
                "{uri:?}: plain http is only allowed for loopback hosts"
            )),
        },
        "javascript" | "data" | "file" | "vbscript" | "blob" => {
            Err(format!("{uri:?}: scheme not allowed"))
        }
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(format!(
            "{uri:?}: custom schemes must be reverse domain names (e.g. com.example.app:/cb)"
        )),
    }
}

/// Loopback IP literals whose port may vary (RFC 8252 §7.3). `localhost` is
/// not one: its resolution is not guaranteed to be loopback (§8.3).
const LOOPBACK_PREFIXES: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// Whether `requested` matches `registered`: the same string, or, for an
/// `http` loopback IP literal, the same string once the port is set aside.
/// No parsing or normalisation happens, so `..`, case or encoding tricks never match.
pub(super) fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    LOOPBACK_PREFIXES.iter().any(|prefix| {
        match (
            registered.strip_prefix(prefix),
            requested.strip_prefix(prefix),
        ) {
            (Some(registered), Some(requested)) => {
                without_port(registered).is_some_and(|rest| Some(rest) == without_port(requested))
            }
            _ => false,
        }
    })
}

/// What follows the host, with an optional `:port` (1–65535) removed; `None`
/// when the text after the host is not a port followed by `/`, `?` or the end.
fn without_port(after_host: &str) -> Option<&str> {
    let Some(port_and_rest) = after_host.strip_prefix(':') else {
        return matches!(after_host.chars().next(), None | Some('/' | '?')).then_some(after_host);
    };
    let digits = port_and_rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(port_and_rest.len());
    let (port, rest) = port_and_rest.split_at(digits);
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
    (port_ok && matches!(rest.chars().next(), None | Some('/' | '?'))).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::{check, matches};

    #[test]
    fn redirect_uris_match_exactly_except_loopback_ports() {
        assert!(matches("https://a.example/cb", "https://a.example/cb"));
        for other in [
            "https://a.example/cb/x",
            "https://a.example/cb?x=1",
            "https://a.example:444/cb",
            "https://A.example/cb",
            "https://a.example/cb/../cb",
            "https://a.example/%63b",
            "https://a.example/cb#x",
        ] {
            assert!(!matches("https://a.example/cb", other), "{other}");
        }
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb"));
        assert!(matches("http://[::1]:80/cb", "http://[::1]:9/cb"));
        assert!(matches(
            "http://127.0.0.1:8/cb?a=1",
            "http://127.0.0.1/cb?a=1"
        ));
        for other in [
            "http://127.0.0.1:5/other",
            "http://127.0.0.1:5/cb/../cb",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://127.0.0.1:5@evil.example/cb",
            "HTTP://127.0.0.1:5/cb",
        ] {
            assert!(!matches("http://127.0.0.1/cb", other), "{other}");
        }
        assert!(!matches("http://localhost/cb", "http://localhost:5/cb"));
    }

    #[test]
    fn only_canonical_uris_without_credentials_wildcards_or_whitespace_register() {
        for bad in [
            " https://a.example/cb",
            "https://a.example/cb ",
            "https://a.example/c b",
            "https://a.example/cb\t",
            "https://user:pw@a.example/cb",
            "https://user@a.example/cb",
            "https://*.example/cb",
            "https://a.example/*",
            "https://a.example/cb#",
            "https://a.example",
            "HTTPS://a.example/cb",
            "https://a.example:443/cb",
            "http://evil.example/cb",
            "javascript:alert(1)",
            "myapp:/cb",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
        for good in [
            "https://a.example/cb",
            "https://a.example/cb?x=1",
            "http://127.0.0.1/cb",
            "http://localhost:3000/cb",
            "http://[::1]:8080/cb",
            "com.example.app:/cb",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        assert!(check(&format!("https://a.example/{}", "a".repeat(2000))).is_err());
    }
}
