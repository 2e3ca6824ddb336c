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
        "jwks_uri": url(paths::JWKS),
        "token_endpoint": url(paths::TOKEN),
        "introspection_endpoint": url(paths::INTROSPECT),
        "revocation_endpoint": url(paths::REVOKE),
        "response_types_supported": [],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": secret_methods,
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
