//! Cookie names, attributes and parsing (DESIGN.md rule 10): `HttpOnly`,
//! `SameSite=Lax`, and `__Host-` prefixed and `Secure` exactly when the issuer
//! is https. On an http issuer (the zero-config `http://localhost:8080`) neither:
//! Safari and RFC 6265 cookie jars drop `Secure` cookies set over http, and a
//! `__Host-` name without `Secure` is refused by every browser.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};

use crate::config::Config;

/// The names and attributes of our cookies for one deployment, decided once
/// from the configuration at start (kept in `AppState::cookies`).
#[derive(Clone, Copy, Debug)]
pub struct CookiePolicy {
    secure: bool,
}

/// Which of our cookies.
#[derive(Clone, Copy, Debug)]
pub enum CookieKind {
    /// The browser session id.
    Session,
    /// The CSRF double-submit token.
    Csrf,
}

impl CookiePolicy {
    /// The policy for `config`'s issuer: secure cookies when it is https.
    pub fn for_config(config: &Config) -> Self {
        let secure = url::Url::parse(&config.issuer).is_ok_and(|url| url.scheme() == "https");
        Self { secure }
    }

    /// The cookie's name: `__Host-` prefixed when the cookie can be `Secure`.
    pub fn name(self, kind: CookieKind) -> &'static str {
        match (kind, self.secure) {
            (CookieKind::Session, true) => "__Host-gatehouse_session",
            (CookieKind::Session, false) => "gatehouse_session",
            (CookieKind::Csrf, true) => "__Host-gatehouse_csrf",
            (CookieKind::Csrf, false) => "gatehouse_csrf",
        }
    }

    /// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
    pub fn set(self, kind: CookieKind, value: &str, max_age: i64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax{secure}; Max-Age={max_age}",
            self.name(kind)
        );
        HeaderValue::from_str(&cookie).ok()
    }

    /// The value of our `kind` cookie in the request, if any.
    pub fn get(self, headers: &HeaderMap, kind: CookieKind) -> Option<String> {
        let name = self.name(kind);
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_contexts_get_host_prefixed_secure_cookies() {
        let https = Config {
            issuer: "https://id.example".into(),
            ..Config::default()
        };
        let policy = CookiePolicy::for_config(&https);
        let set = policy.set(CookieKind::Session, "abc", 60).unwrap();
        assert_eq!(
            set,
            "__Host-gatehouse_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=60"
        );

        for issuer in [
            "http://gatehouse.internal",
            "http://localhost:8080",
            "http://127.0.0.1:9",
        ] {
            let plain = Config {
                issuer: issuer.into(),
                ..Config::default()
            };
            let set = CookiePolicy::for_config(&plain)
                .set(CookieKind::Session, "abc", 60)
                .unwrap();
            assert_eq!(
                set, "gatehouse_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60",
                "{issuer}"
            );
        }
    }

    #[test]
    fn reads_our_cookie_among_others() {
        let policy = CookiePolicy::for_config(&Config {
            issuer: "https://id.example".into(),
            ..Config::default()
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; __Host-gatehouse_session=xyz; b=2"),
        );
        assert_eq!(
            policy.get(&headers, CookieKind::Session).as_deref(),
            Some("xyz")
        );
        assert_eq!(policy.get(&headers, CookieKind::Csrf), None);
    }
}
