//! Registration rules: what makes a [`ClientSpec`] acceptable, and the
//! normalised [`ValidSpec`] it becomes.

use url::Url;

use super::model::{AuthMethod, ClientKind, ClientSpec, GrantType};
use crate::oauth::scope::Scope;

/// A registration field that breaks a rule, with a message that says which and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The offending field, as named in the API.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field,
        message: message.into(),
    }
}

/// A registration that passed every rule, with defaults filled in.
#[derive(Debug)]
pub struct ValidSpec {
    pub(super) name: String,
    pub(super) kind: ClientKind,
    pub(super) redirect_uris: Vec<String>,
    pub(super) post_logout_redirect_uris: Vec<String>,
    pub(super) grant_types: Vec<GrantType>,
    pub(super) scope: Scope,
    pub(super) auth_method: AuthMethod,
    pub(super) first_party: bool,
}

impl ClientSpec {
    /// Checks every rule and fills in defaults.
    pub fn validate(self) -> Result<ValidSpec, ValidationError> {
        let name = self.client_name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(invalid(
                "client_name",
                "must be 1 to 200 printable characters",
            ));
        }

        let mut grant_types = Vec::new();
        for grant in self.grant_types {
            if !grant_types.contains(&grant) {
                grant_types.push(grant);
            }
        }
        if grant_types.is_empty() {
            return Err(invalid(
                "grant_types",
                "at least one grant type is required",
            ));
        }
        let has = |g| grant_types.contains(&g);
        if has(GrantType::RefreshToken) && !has(GrantType::AuthorizationCode) {
            return Err(invalid(
                "grant_types",
                "refresh_token is only issued with authorization_code",
            ));
        }

        let auth_method = match (self.client_type, self.token_endpoint_auth_method) {
            (ClientKind::Public, None | Some(AuthMethod::None)) => AuthMethod::None,
            (ClientKind::Public, Some(_)) => {
                return Err(invalid(
                    "token_endpoint_auth_method",
                    "a public client has no secret: use none",
                ));
            }
            (ClientKind::Confidential, None) => AuthMethod::ClientSecretBasic,
            (ClientKind::Confidential, Some(AuthMethod::None)) => {
                return Err(invalid(
                    "token_endpoint_auth_method",
                    "a confidential client authenticates: use client_secret_basic or client_secret_post",
                ));
            }
            (ClientKind::Confidential, Some(method)) => method,
        };
        if self.client_type == ClientKind::Public && has(GrantType::ClientCredentials) {
            return Err(invalid(
                "grant_types",
                "client_credentials needs a confidential client",
            ));
        }

        let redirect_uris = dedupe(self.redirect_uris);
        for uri in &redirect_uris {
            check_redirect_uri("redirect_uris", uri)?;
        }
        if has(GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(invalid(
                "redirect_uris",
                "authorization_code needs at least one redirect URI",
            ));
        }
        let post_logout_redirect_uris = dedupe(self.post_logout_redirect_uris);
        for uri in &post_logout_redirect_uris {
            check_redirect_uri("post_logout_redirect_uris", uri)?;
        }

        let scope = Scope::parse(&self.scope).map_err(|e| invalid("scope", e.to_string()))?;

        Ok(ValidSpec {
            name,
            kind: self.client_type,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scope,
            auth_method,
            first_party: self.first_party,
        })
    }
}

fn dedupe(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// RFC 6749 §3.1.2 and RFC 8252 §7: absolute, no fragment; `https`, or `http`
/// on a loopback host, or a private-use scheme in reverse-domain form.
fn check_redirect_uri(field: &'static str, uri: &str) -> Result<(), ValidationError> {
    let parsed = Url::parse(uri)
        .map_err(|e| invalid(field, format!("{uri:?} is not an absolute URI ({e})")))?;
    if parsed.fragment().is_some() {
        return Err(invalid(
            field,
            format!("{uri:?} must not contain a fragment"),
        ));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => match parsed.host_str() {
            Some("localhost" | "127.0.0.1" | "[::1]") => Ok(()),
            _ => Err(invalid(
                field,
                format!("{uri:?}: plain http is only allowed for loopback hosts"),
            )),
        },
        "javascript" | "data" | "file" | "vbscript" | "blob" => {
            Err(invalid(field, format!("{uri:?}: scheme not allowed")))
        }
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(invalid(
            field,
            format!(
                "{uri:?}: custom schemes must be reverse domain names (e.g. com.example.app:/cb)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ClientKind, grants: Vec<GrantType>, uris: &[&str]) -> ClientSpec {
        ClientSpec {
            client_name: "App".into(),
            client_type: kind,
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            post_logout_redirect_uris: vec![],
            grant_types: grants,
            scope: "openid".into(),
            token_endpoint_auth_method: None,
            first_party: false,
        }
    }

    #[test]
    fn defaults_auth_method_by_client_type() {
        let conf = spec(
            ClientKind::Confidential,
            vec![GrantType::ClientCredentials],
            &[],
        );
        assert_eq!(
            conf.validate().unwrap().auth_method,
            AuthMethod::ClientSecretBasic
        );
        let public = spec(
            ClientKind::Public,
            vec![GrantType::AuthorizationCode],
            &["https://a.example/cb"],
        );
        assert_eq!(public.validate().unwrap().auth_method, AuthMethod::None);
    }

    #[test]
    fn rejects_unsafe_redirect_uris() {
        for bad in [
            "http://evil.example/cb",
            "https://a.example/cb#frag",
            "javascript:alert(1)",
            "/relative",
            "myapp:/cb",
        ] {
            let s = spec(
                ClientKind::Public,
                vec![GrantType::AuthorizationCode],
                &[bad],
            );
            assert_eq!(s.validate().unwrap_err().field, "redirect_uris", "{bad}");
        }
        for good in [
            "http://127.0.0.1/cb",
            "http://localhost:3000/cb",
            "com.example.app:/cb",
        ] {
            let s = spec(
                ClientKind::Public,
                vec![GrantType::AuthorizationCode],
                &[good],
            );
            assert!(s.validate().is_ok(), "{good}");
        }
    }

    #[test]
    fn rejects_inconsistent_grants() {
        let s = spec(ClientKind::Public, vec![GrantType::ClientCredentials], &[]);
        assert_eq!(s.validate().unwrap_err().field, "grant_types");
        let s = spec(ClientKind::Confidential, vec![GrantType::RefreshToken], &[]);
        assert_eq!(s.validate().unwrap_err().field, "grant_types");
        let s = spec(
            ClientKind::Confidential,
            vec![GrantType::AuthorizationCode],
            &[],
        );
        assert_eq!(s.validate().unwrap_err().field, "redirect_uris");
    }
}
