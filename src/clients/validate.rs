//! Registration rules: what makes a [`ClientSpec`] acceptable, and the
//! normalised [`ValidSpec`] it becomes.

use serde_json::json;

use super::model::{AuthMethod, ClientKind, ClientPatch, ClientSpec, GrantType};
use crate::oauth::scope::{ADMIN_SCOPE, Scope};

/// The most redirect URIs (and, separately, post-logout redirect URIs) a client may register.
pub const MAX_REDIRECT_URIS: usize = 20;
/// The longest client name, in characters.
pub const MAX_CLIENT_NAME_CHARS: usize = 200;
/// The longest allowed-scope string, in bytes (scope tokens are ASCII).
pub const MAX_SCOPE_BYTES: usize = 1000;

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
    pub(super) introspect_any: bool,
    pub(super) require_mfa: bool,
}

impl ClientSpec {
    /// Checks every rule and fills in defaults.
    pub fn validate(self) -> Result<ValidSpec, ValidationError> {
        let name = check_name(&self.client_name)?;

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

        let scope = check_scope(&self.scope)?;

        // An admin client's tokens must always act for the client itself: a
        // person signing in through it would otherwise carry admin power.
        if scope.contains(ADMIN_SCOPE)
            && (self.client_type != ClientKind::Confidential
                || grant_types != [GrantType::ClientCredentials])
        {
            return Err(invalid(
                "scope",
                format!(
                    "{ADMIN_SCOPE} is only for confidential clients whose only grant is \
                     client_credentials: no person may sign in through an admin client"
                ),
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

        let redirect_uris = check_uri_list("redirect_uris", self.redirect_uris)?;
        if has(GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(invalid(
                "redirect_uris",
                "authorization_code needs at least one redirect URI",
            ));
        }
        let post_logout_redirect_uris =
            check_uri_list("post_logout_redirect_uris", self.post_logout_redirect_uris)?;

        if self.introspect_any && self.client_type != ClientKind::Confidential {
            return Err(invalid(
                "introspect_any",
                "only a confidential client (a resource server) may introspect other clients' tokens",
            ));
        }

        Ok(ValidSpec {
            name,
            kind: self.client_type,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scope,
            auth_method,
            first_party: self.first_party,
            introspect_any: self.introspect_any,
            require_mfa: self.require_mfa,
        })
    }
}

/// The rules of [`ClientSpec::validate`] that tie fields together, as JSON
/// Schema (`allOf` of `if`/`then`) for the OpenAPI document, so a registration
/// valid by the document is valid here. Keep it in step with `validate`.
pub fn spec_rules_schema() -> serde_json::Value {
    let contains = |grant: GrantType| json!({"contains": {"const": grant.as_str()}});
    json!([
        {
            "if": {"required": ["grant_types"], "properties": {"grant_types": contains(GrantType::RefreshToken)}},
            "then": {"properties": {"grant_types": contains(GrantType::AuthorizationCode)}}
        },
        {
            "if": {"required": ["grant_types"], "properties": {"grant_types": contains(GrantType::AuthorizationCode)}},
            "then": {"required": ["redirect_uris"], "properties": {"redirect_uris": {"minItems": 1}}}
        },
        {
            "if": {"required": ["client_type"], "properties": {"client_type": {"const": "public"}}},
            "then": {"properties": {
                "grant_types": {"not": contains(GrantType::ClientCredentials)},
                "token_endpoint_auth_method": {"enum": ["none", null]},
                "introspect_any": {"const": false}
            }},
            "else": {"properties": {"token_endpoint_auth_method": {"not": {"const": "none"}}}}
        },
        {
            "if": {"required": ["scope"], "properties": {"scope": {"pattern": format!("(^| ){ADMIN_SCOPE}( |$)")}}},
            "then": {"properties": {
                "client_type": {"const": "confidential"},
                "grant_types": {"items": {"const": GrantType::ClientCredentials.as_str()}}
            }}
        }
    ])
}

impl ClientPatch {
    /// Checks the fields the patch sets, each on its own. What only the patched
    /// client as a whole can break (grants against redirect URIs, kind against
    /// permissions) is checked by [`ClientSpec::validate`] afterwards.
    pub fn check_fields(&self) -> Result<(), ValidationError> {
        if let Some(name) = &self.client_name {
            check_name(name)?;
        }
        for (field, list) in [
            ("redirect_uris", &self.redirect_uris),
            ("post_logout_redirect_uris", &self.post_logout_redirect_uris),
        ] {
            if let Some(list) = list {
                check_uri_list(field, list.clone())?;
            }
        }
        if self.grant_types.as_ref().is_some_and(Vec::is_empty) {
            return Err(invalid(
                "grant_types",
                "at least one grant type is required",
            ));
        }
        if let Some(scope) = &self.scope {
            check_scope(scope)?;
        }
        Ok(())
    }
}

/// A client name: 1–200 characters as sent (like the OpenAPI document's
/// maxLength), no control characters, not only whitespace; returned trimmed.
fn check_name(raw: &str) -> Result<String, ValidationError> {
    let name = raw.trim();
    if name.is_empty()
        || raw.chars().count() > MAX_CLIENT_NAME_CHARS
        || raw.chars().any(char::is_control)
    {
        return Err(invalid(
            "client_name",
            format!("must be 1 to {MAX_CLIENT_NAME_CHARS} printable characters, not only spaces"),
        ));
    }
    Ok(name.to_owned())
}

/// A list of redirect URIs: at most [`MAX_REDIRECT_URIS`], each registrable; duplicates dropped.
fn check_uri_list(field: &'static str, list: Vec<String>) -> Result<Vec<String>, ValidationError> {
    if list.len() > MAX_REDIRECT_URIS {
        return Err(invalid(
            field,
            format!("at most {MAX_REDIRECT_URIS} URIs may be registered"),
        ));
    }
    let list = dedupe(list);
    for uri in &list {
        check_redirect_uri(field, uri)?;
    }
    Ok(list)
}

/// An allowed-scope string: at most [`MAX_SCOPE_BYTES`], valid scope tokens.
fn check_scope(text: &str) -> Result<Scope, ValidationError> {
    if text.len() > MAX_SCOPE_BYTES {
        return Err(invalid("scope", format!("at most {MAX_SCOPE_BYTES} bytes")));
    }
    Scope::parse(text).map_err(|e| invalid("scope", e.to_string()))
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

/// A redirect URI list entry that [`super::redirect`] accepts.
fn check_redirect_uri(field: &'static str, uri: &str) -> Result<(), ValidationError> {
    super::redirect::check(uri).map_err(|message| invalid(field, message))
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
            introspect_any: false,
            require_mfa: false,
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
    fn admin_clients_are_confidential_machine_clients_only() {
        let mut admin = spec(
            ClientKind::Confidential,
            vec![GrantType::ClientCredentials],
            &[],
        );
        admin.scope = ADMIN_SCOPE.into();
        assert!(admin.clone().validate().is_ok());
        let mut web = spec(
            ClientKind::Confidential,
            vec![GrantType::ClientCredentials, GrantType::AuthorizationCode],
            &["https://a.example/cb"],
        );
        web.scope = format!("openid {ADMIN_SCOPE}");
        assert_eq!(web.validate().unwrap_err().field, "scope");
        let mut public = spec(
            ClientKind::Public,
            vec![GrantType::AuthorizationCode],
            &["https://a.example/cb"],
        );
        public.scope = ADMIN_SCOPE.into();
        assert_eq!(public.validate().unwrap_err().field, "scope");
        let mut public = spec(
            ClientKind::Public,
            vec![GrantType::AuthorizationCode],
            &["https://a.example/cb"],
        );
        public.introspect_any = true;
        assert_eq!(public.validate().unwrap_err().field, "introspect_any");
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
