//! Parsing and validating an authorization request (RFC 6749 §4.1.1, OIDC Core
//! §3.1.2.1). Until the client and its redirect URI are verified, every problem
//! is an error page; after that, errors go back to the client (DESIGN.md rule 5).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::response::{ResponseMode, ResponseTarget};
use crate::app::AppState;
use crate::clients::{self, Client, ClientKind, GrantType, RegistryError};
use crate::http::params::FormParams;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::pkce;
use crate::oauth::scope::Scope;
use crate::oidc::claims::{ClaimsRefusal, ClaimsRequest};
use crate::oidc::id_token;

/// A validated authorization request, kept server-side while the person signs in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// Where and how to answer.
    pub target: ResponseTarget,
    /// The client.
    pub client_id: String,
    /// Requested scope, space-separated (validated).
    pub scope: String,
    /// OIDC nonce, echoed in the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt=login` (or `max_age`/hint) demands a fresh sign-in.
    pub force_login: bool,
    /// `prompt=consent`.
    pub force_consent: bool,
    /// `prompt=none`: never show a page.
    pub no_prompt: bool,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// Email to prefill on the sign-in page.
    pub login_hint: Option<String>,
    /// The `sub` of a valid `id_token_hint`.
    pub hinted_sub: Option<String>,
    /// Individual claims asked for with the `claims` parameter.
    #[serde(default)]
    pub claims: ClaimsRequest,
    /// The authentication context classes asked for (`acr_values`), in
    /// order of preference ([`crate::oidc::acr`]).
    #[serde(default)]
    pub acr_values: Vec<String>,
}

/// Why a request was refused, and how to say so.
#[derive(Debug)]
pub enum Refusal {
    /// The client or redirect URI cannot be trusted: show a page, never redirect.
    Page {
        /// HTTP status of the page.
        status: StatusCode,
        /// What the person is told.
        message: String,
    },
    /// Send the error back to the verified redirect URI.
    Redirect(Box<ResponseTarget>, OAuthError),
    /// The client could not be read: our failure, shown as a page.
    Failed(RegistryError),
}

/// The longest value accepted for each parameter an authorization request may
/// make the server store or echo, bytes. Checked before anything else, so an
/// oversize `state` is refused on a page instead of being stored or
/// redirected back (real clients send far less: a `state` is usually < 200).
const PARAMETER_LIMITS: &[(&str, usize)] = &[
    ("client_id", 255),
    ("redirect_uri", 2048),
    ("state", 2048),
    ("nonce", 512),
    ("login_hint", 320),
    ("scope", 4096),
    ("prompt", 64),
    ("max_age", 20),
    ("response_type", 64),
    ("response_mode", 32),
    ("code_challenge", 128),
    ("code_challenge_method", 16),
    ("id_token_hint", 8192),
    ("display", 32),
    ("ui_locales", 256),
    ("claims_locales", 256),
    ("acr_values", 256),
    ("claims", 4096),
];

fn page(message: impl Into<String>) -> Refusal {
    Refusal::Page {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
    }
}

/// Validates `params` into an [`AuthorizationRequest`] for `client`.
pub async fn validate(
    state: &AppState,
    params: &FormParams,
) -> Result<(AuthorizationRequest, Client), Refusal> {
    if let Some((name, max)) = params.first_oversize(PARAMETER_LIMITS) {
        tracing::info!(
            parameter = name,
            max,
            "authorization request refused: oversize parameter"
        );
        return Err(page(format!(
            "The request's {name} parameter is longer than {max} characters."
        )));
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| page("The request does not name an application (client_id is missing)."))?;
    let client = match clients::find(&state.store, client_id).await {
        Ok(client) => client,
        Err(RegistryError::NotFound) => {
            return Err(page(
                "The application that sent you here is not registered.",
            ));
        }
        Err(e) => return Err(Refusal::Failed(e)),
    };
    let redirect_uri = params.get("redirect_uri").ok_or_else(|| {
        page("The request does not say where to return (redirect_uri is missing).")
    })?;
    if !client.accepts_redirect_uri(redirect_uri) {
        return Err(page(
            "The return address in the request is not registered for this application.",
        ));
    }
    let response_mode = match params.get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => return Err(page("The request asks for an unsupported response mode.")),
    };
    let target = ResponseTarget {
        redirect_uri: redirect_uri.to_owned(),
        state: params.get("state").map(str::to_owned),
        mode: response_mode,
    };
    let refuse = |code: ErrorCode, description: &'static str| {
        Refusal::Redirect(Box::new(target.clone()), OAuthError::new(code, description))
    };

    if params.get("request").is_some() {
        return Err(refuse(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(refuse(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    match params.get("response_type") {
        Some("code") => {}
        None => {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "response_type is required",
            ));
        }
        Some(_) => {
            return Err(refuse(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(refuse(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    let scope = Scope::parse(params.get("scope").unwrap_or_default()).map_err(|e| {
        Refusal::Redirect(
            Box::new(target.clone()),
            OAuthError::new(ErrorCode::InvalidScope, e.to_string()),
        )
    })?;
    if scope.is_empty() {
        return Err(refuse(ErrorCode::InvalidScope, "scope is required"));
    }
    // Values nobody here offers are ignored (OIDC Core §3.1.2.1); offered ones
    // beyond the client's registration are refused below.
    let scope = scope.without_unknown(&client.scope);
    if scope.is_empty() {
        return Err(refuse(
            ErrorCode::InvalidScope,
            "the request names no scope this server offers",
        ));
    }
    if !scope.is_subset_of(&client.scope) {
        return Err(refuse(
            ErrorCode::InvalidScope,
            "the requested scope exceeds what this client may ask for",
        ));
    }

    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(challenge), Some("S256")) if pkce::is_valid_challenge(challenge) => {
            Some(challenge.to_owned())
        }
        (Some(_), Some("S256")) => {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "code_challenge is malformed",
            ));
        }
        (Some(_), Some(_) | None) => {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "only code_challenge_method=S256 is supported",
            ));
        }
        (None, Some(_)) => {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "code_challenge_method without code_challenge",
            ));
        }
        (None, None) => None,
    };
    if code_challenge.is_none() && (client.kind == ClientKind::Public || state.config.require_pkce)
    {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            "PKCE (code_challenge with S256) is required",
        ));
    }

    let prompts: Vec<&str> = params
        .get("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    for prompt in &prompts {
        if !matches!(*prompt, "none" | "login" | "consent") {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "unsupported prompt value",
            ));
        }
    }
    let no_prompt = prompts.contains(&"none");
    if no_prompt && prompts.len() > 1 {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|age| *age >= 0)
                .ok_or_else(|| {
                    refuse(
                        ErrorCode::InvalidRequest,
                        "max_age must be a non-negative integer",
                    )
                })?,
        ),
    };
    let hinted_sub = match params.get("id_token_hint") {
        None => None,
        Some(hint) => match id_token::verify_hint(state, hint) {
            Some(claims) if claims.aud == client.id => Some(claims.sub),
            _ => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "id_token_hint is not a valid ID token for this client",
                ));
            }
        },
    };
    let claims = match params.get("claims").map(ClaimsRequest::parse) {
        None => ClaimsRequest::default(),
        Some(Ok(claims)) => claims.within(|scope| client.scope.contains(scope)),
        Some(Err(ClaimsRefusal::Malformed(why))) => {
            return Err(refuse(ErrorCode::InvalidRequest, why));
        }
        Some(Err(ClaimsRefusal::AcrUnmet)) => {
            return Err(refuse(
                ErrorCode::AccessDenied,
                "the essential acr asked for cannot be met",
            ));
        }
    };

    if let (Some(hinted), Some(asked)) = (&hinted_sub, &claims.sub)
        && hinted != asked
    {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            "id_token_hint and the claims parameter name different people",
        ));
    }

    let request = AuthorizationRequest {
        target,
        client_id: client.id.clone(),
        scope: scope.to_string(),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        force_login: prompts.contains(&"login"),
        force_consent: prompts.contains(&"consent"),
        no_prompt,
        max_age,
        login_hint: params.get("login_hint").map(str::to_owned),
        hinted_sub,
        claims,
        acr_values: params
            .get("acr_values")
            .unwrap_or_default()
            .split(' ')
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    Ok((request, client))
}
