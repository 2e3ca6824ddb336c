//! The UserInfo endpoint (OIDC Core §5.3): claims about the signed-in person,
//! for the scopes the access token carries. GET or POST, Bearer header, or
//! (POST only) `access_token` in a form body (RFC 6750 §2.2).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::app::AppState;
use crate::http::Error;
use crate::http::bearer::BearerToken;
use crate::http::params::FormParams;
use crate::oauth::access_token;
use crate::oauth::scope::Scope;

/// The claims we release (OIDC Core §5.3.2): `sub` and what the token's
/// scope releases ([`crate::oidc::claims::released`]).
#[derive(Debug, Serialize)]
pub struct UserInfo {
    sub: String,
    #[serde(flatten)]
    claims: Map<String, Value>,
}

/// `GET /userinfo`.
pub async fn get(
    State(state): State<AppState>,
    BearerToken(token): BearerToken,
) -> Result<impl IntoResponse, Error> {
    respond(&state, &token).await
}

/// `POST /userinfo`: Bearer header, or `access_token` in a form body (not both).
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Error> {
    let form = FormParams::parse(&body).map_err(|_| Error::InvalidToken)?;
    let token = match (BearerToken::in_headers(&headers), form.get("access_token")) {
        (Some(token), None) => token.to_owned(),
        (None, Some(token)) => token.to_owned(),
        _ => return Err(Error::InvalidToken),
    };
    respond(&state, &token).await
}

async fn respond(state: &AppState, token: &str) -> Result<impl IntoResponse + use<>, Error> {
    let claims = access_token::active_claims(state, token)
        .await?
        .filter(|claims| claims.gid.is_some())
        .ok_or(Error::InvalidToken)?;
    let scope = Scope::parse(&claims.scope).unwrap_or_default();
    if !scope.contains("openid") {
        return Err(Error::InsufficientScope("openid"));
    }
    let user = match crate::users::find(&state.store, &claims.sub).await {
        Ok(user) if !user.disabled => user,
        Ok(_) | Err(crate::users::UserError::NotFound) => return Err(Error::InvalidToken),
        Err(e) => return Err(Error::internal(e)),
    };
    let info = UserInfo {
        claims: crate::oidc::claims::released(&user, &scope, &claims.userinfo_claims),
        sub: user.id,
    };
    Ok(([(CACHE_CONTROL, "no-store")], Json(info)))
}
