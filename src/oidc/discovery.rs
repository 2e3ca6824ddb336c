//! The provider metadata (OpenID Connect Discovery 1.0, RFC 8414). It lists
//! exactly what is implemented and is serialized once at start.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use serde_json::json;

use crate::app::AppState;
use crate::http::paths;

/// The metadata document for `issuer`, as JSON bytes.
pub fn document(issuer: &str) -> Bytes {
    let url = |path: &str| format!("{issuer}{path}");
    let secret_methods = ["client_secret_basic", "client_secret_post"];
    let doc = json!({
        "issuer": issuer,
        "authorization_endpoint": url(paths::AUTHORIZE),
        "token_endpoint": url(paths::TOKEN),
        "userinfo_endpoint": url(paths::USERINFO),
        "end_session_endpoint": url(paths::END_SESSION),
        "jwks_uri": url(paths::JWKS),
        "introspection_endpoint": url(paths::INTROSPECT),
        "revocation_endpoint": url(paths::REVOKE),
        "scopes_supported": crate::oauth::scope::SUPPORTED_SCOPES,
        "claims_supported": [
            "sub", "iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "acr",
            "name", "given_name", "family_name", "preferred_username", "picture", "website",
            "zoneinfo", "locale", "updated_at", "email", "email_verified", "address",
            "phone_number", "phone_number_verified"
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": crate::oidc::acr::SUPPORTED,
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    });
    Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
}

/// Serves the precomputed document.
pub async fn discovery(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        state.discovery.clone(),
    )
}
