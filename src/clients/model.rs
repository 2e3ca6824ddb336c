//! Client types: the stored [`Client`], the [`ClientSpec`] a registration asks
//! for, the [`ClientPatch`] an update sends, and the [`ClientView`] we show.
//! Field names follow RFC 7591 (dynamic client registration) where it has one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Array, ArrayBuilder, ObjectBuilder, SchemaType, Type};

use crate::clock::UnixTime;
use crate::oauth::scope::{ADMIN_SCOPE, Scope};

/// Whether a client can keep a secret (RFC 6749 §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// A server-side application holding a client secret.
    #[default]
    Confidential,
    /// A browser or native app: no secret, PKCE instead.
    Public,
}

/// The OAuth grants a client may use at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.1, with PKCE.
    AuthorizationCode,
    /// RFC 6749 §6, rotating.
    RefreshToken,
    /// RFC 6749 §4.4, machine to machine.
    ClientCredentials,
}

/// How a client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// Client id and secret in the form body.
    ClientSecretPost,
    /// No authentication: public clients.
    None,
}

macro_rules! wire_names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The name used on the wire and in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(format!("unknown value {s:?}; expected one of: {}", [$($name),+].join(", "))),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_names!(ClientKind { Confidential => "confidential", Public => "public" });
wire_names!(GrantType {
    AuthorizationCode => "authorization_code",
    RefreshToken => "refresh_token",
    ClientCredentials => "client_credentials",
});
wire_names!(AuthMethod {
    ClientSecretBasic => "client_secret_basic",
    ClientSecretPost => "client_secret_post",
    None => "none",
});

/// A registered client as the protocol code uses it.
#[derive(Clone, Debug)]
pub struct Client {
    /// The public `client_id`.
    pub id: String,
    /// Name shown to people (consent page, admin lists).
    pub name: String,
    /// Confidential or public.
    pub kind: ClientKind,
    /// SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<Vec<u8>>,
    /// Exact redirect URIs the client may use.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// Grants the client may use.
    pub grant_types: Vec<GrantType>,
    /// The most the client may ask for.
    pub scope: Scope,
    /// How it authenticates at the token endpoint.
    pub auth_method: AuthMethod,
    /// Trusted application: consent is not asked.
    pub first_party: bool,
    /// A resource server: may introspect tokens issued to other clients (RFC 7662 §4).
    pub introspect_any: bool,
    /// Everyone signing in to it must use more than a password
    /// ([`crate::oidc::acr::Level::MultiFactor`] at least).
    pub require_mfa: bool,
    /// When the secret or the permissions last changed; admin-API tokens issued
    /// at or before this second carry no admin power. `None` since registration.
    pub credentials_changed_at: Option<UnixTime>,
    /// Registration time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

impl Client {
    /// Whether the client may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether the client is an admin client: it may carry the admin scope, and
    /// registration guarantees it is confidential and uses client_credentials
    /// only, so its tokens always act for the client itself, never for a person.
    pub fn is_admin(&self) -> bool {
        self.scope.contains(ADMIN_SCOPE)
            && self.kind == ClientKind::Confidential
            && self.grant_types == [GrantType::ClientCredentials]
    }

    /// Whether `requested` is one of the registered redirect URIs (exact string
    /// comparison; RFC 8252 §7.3 loopback ports excepted).
    pub fn accepts_redirect_uri(&self, requested: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| super::redirect::matches(registered, requested))
    }

    /// What the admin API and CLI show: everything but the secret hash.
    pub fn view(&self) -> ClientView {
        ClientView {
            client_id: self.id.clone(),
            client_name: self.name.clone(),
            client_type: self.kind,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            scope: self.scope.to_string(),
            token_endpoint_auth_method: self.auth_method,
            first_party: self.first_party,
            introspect_any: self.introspect_any,
            require_mfa: self.require_mfa,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The registration this client was made from, for applying a patch.
    pub fn spec(&self) -> ClientSpec {
        ClientSpec {
            client_name: self.name.clone(),
            client_type: self.kind,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            scope: self.scope.to_string(),
            token_endpoint_auth_method: Some(self.auth_method),
            first_party: self.first_party,
            introspect_any: self.introspect_any,
            require_mfa: self.require_mfa,
        }
    }
}

/// A client as shown by the admin API and the CLI (never includes the secret).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientView {
    /// The public client identifier.
    pub client_id: String,
    /// Human-readable name.
    pub client_name: String,
    /// `confidential` or `public`.
    pub client_type: ClientKind,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed grant types.
    pub grant_types: Vec<GrantType>,
    /// Allowed scopes, space-separated.
    pub scope: String,
    /// Token endpoint authentication method.
    pub token_endpoint_auth_method: AuthMethod,
    /// Whether consent is skipped.
    pub first_party: bool,
    /// Whether the client may introspect tokens issued to other clients.
    pub introspect_any: bool,
    /// Whether everyone signing in to it must use more than a password.
    pub require_mfa: bool,
    /// Registration time, Unix seconds.
    pub created_at: UnixTime,
    /// Last update, Unix seconds.
    pub updated_at: UnixTime,
}

/// What a registration asks for (admin API `POST /admin/clients`, `gatehouse client create`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Human-readable name: 1–200 characters as sent, no control characters, not
    /// only whitespace; stored trimmed.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub client_name: String,
    /// `confidential` (default) or `public`.
    #[serde(default)]
    pub client_type: ClientKind,
    /// Exact redirect URIs (at most 20); at least one with `authorization_code`.
    #[serde(default)]
    #[schema(schema_with = redirect_uris)]
    pub redirect_uris: Vec<String>,
    /// Allowed post-logout redirect URIs (at most 20).
    #[serde(default)]
    #[schema(schema_with = redirect_uris)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed grant types; at least one. `refresh_token` only with
    /// `authorization_code`; `client_credentials` only for confidential clients.
    #[schema(min_items = 1)]
    pub grant_types: Vec<GrantType>,
    /// Allowed scopes, space-separated scope tokens (RFC 6749 §3.3): at most 1000
    /// characters, at most 128 tokens of at most 255 characters each (the pattern states the token length; the token count is checked by the server). `gatehouse:admin` only for a confidential client whose only
    /// grant is `client_credentials`.
    #[serde(default)]
    #[schema(max_length = 1000, pattern = "^ *([!#-\\[\\]-~]{1,255}( +|$))*$")]
    pub scope: String,
    /// Defaults to `client_secret_basic` (confidential) or `none` (public); a
    /// public client may only use `none`, a confidential one never.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// Skip the consent page for this client.
    #[serde(default)]
    pub first_party: bool,
    /// Let this confidential client introspect tokens issued to other clients
    /// (a resource server). Off by default: a client introspects only its own tokens.
    #[serde(default)]
    pub introspect_any: bool,
    /// Everyone signing in to this client must use more than a password (an
    /// authenticator app or a passkey); someone who has neither is refused.
    #[serde(default)]
    pub require_mfa: bool,
}

/// The pattern the OpenAPI document gives redirect URIs. The server accepts an
/// absolute URI in canonical form (as the WHATWG URL parser writes it) without
/// whitespace, `*`, credentials or fragment, that is `https`, `http` on a
/// loopback host, or a reverse-domain private-use scheme, at most 2000 bytes;
/// the pattern is a subset of those, so every URI it matches is accepted.
const REDIRECT_URI_PATTERN: &str = "^(https://[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\\.[a-z]{2,10}){1,3}|http://(127\\.0\\.0\\.1|localhost|\\[::1\\])(:[1-9][0-9]{3})?|com\\.example\\.[a-z]{1,10}:)/([A-Za-z0-9_~-]{1,20}/){0,4}[A-Za-z0-9_~-]{0,20}$";

fn redirect_uri_list(types: SchemaType) -> Array {
    ArrayBuilder::new()
        .schema_type(types)
        .max_items(Some(super::MAX_REDIRECT_URIS))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(super::MAX_REDIRECT_URI_BYTES))
                .pattern(Some(REDIRECT_URI_PATTERN)),
        )
        .build()
}

/// The OpenAPI schema of a registration's redirect URI list.
fn redirect_uris() -> Array {
    redirect_uri_list(SchemaType::from(Type::Array))
}

/// The OpenAPI schema of a patch's redirect URI list (absent or null: unchanged).
fn optional_redirect_uris() -> Array {
    redirect_uri_list(SchemaType::from_iter([Type::Array, Type::Null]))
}

/// A partial update (admin API `PATCH /admin/clients/{id}`); absent fields stay.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    /// New name (same rules as at registration).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub client_name: Option<String>,
    /// New redirect URIs (replaces the list).
    #[schema(schema_with = optional_redirect_uris)]
    pub redirect_uris: Option<Vec<String>>,
    /// New post-logout redirect URIs (replaces the list).
    #[schema(schema_with = optional_redirect_uris)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// New grant types (replaces the list).
    #[schema(min_items = 1)]
    pub grant_types: Option<Vec<GrantType>>,
    /// New allowed scopes.
    #[schema(max_length = 1000, pattern = "^ *([!#-\\[\\]-~]{1,255}( +|$))*$")]
    pub scope: Option<String>,
    /// New authentication method.
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// New first-party flag.
    pub first_party: Option<bool>,
    /// New introspect-any flag.
    pub introspect_any: Option<bool>,
    /// New require-MFA flag.
    pub require_mfa: Option<bool>,
}

impl ClientSpec {
    /// This spec with `patch` applied.
    pub fn patched(mut self, patch: ClientPatch) -> Self {
        if let Some(v) = patch.client_name {
            self.client_name = v;
        }
        if let Some(v) = patch.redirect_uris {
            self.redirect_uris = v;
        }
        if let Some(v) = patch.post_logout_redirect_uris {
            self.post_logout_redirect_uris = v;
        }
        if let Some(v) = patch.grant_types {
            self.grant_types = v;
        }
        if let Some(v) = patch.scope {
            self.scope = v;
        }
        if patch.token_endpoint_auth_method.is_some() {
            self.token_endpoint_auth_method = patch.token_endpoint_auth_method;
        }
        if let Some(v) = patch.first_party {
            self.first_party = v;
        }
        if let Some(v) = patch.introspect_any {
            self.introspect_any = v;
        }
        if let Some(v) = patch.require_mfa {
            self.require_mfa = v;
        }
        self
    }
}
