//! `POST /introspect` (RFC 7662): a confidential client asks whether a token is
//! active and what it carries. A client may introspect the access and refresh
//! tokens issued to it; another client's tokens only with the `introspect_any`
//! permission (a resource server). Anything else — unknown, inactive, or not
//! the caller's to see — is the same `{"active": false}`, so the endpoint is no
//! oracle for scanning tokens (RFC 7662 §4).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::access_token::{self, AccessTokenClaims};
use super::client_auth::AuthenticatedClient;
use super::error::OAuthError;
use super::presented::Presented;
use super::tokens::{self, RefreshStanding};
use crate::app::AppState;
use crate::clients::{Client, ClientKind};
use crate::http::Error;
use crate::store::RefreshTokenRow;

/// RFC 7662 §2.2 response: `{"active": false}`, or an active token's claims.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Introspection {
    /// Unknown, expired, revoked, consumed, or not the caller's to see.
    Inactive {
        /// Always `false`.
        active: bool,
    },
    /// An active access token: its JWT claims.
    Access {
        /// Always `true`.
        active: bool,
        /// The token's claims.
        #[serde(flatten)]
        claims: AccessTokenClaims,
        /// `Bearer`.
        token_type: &'static str,
    },
    /// An active refresh token (RFC 7662 §2.2 members).
    Refresh {
        /// Always `true`.
        active: bool,
        /// The client it was issued to.
        client_id: String,
        /// The grant's scope.
        scope: String,
        /// The person it acts for.
        sub: String,
        /// When it expires.
        exp: i64,
        /// When it was issued.
        iat: i64,
        /// `refresh_token`.
        token_type: &'static str,
    },
}

/// The introspection endpoint.
pub async fn introspect(
    State(state): State<AppState>,
    AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Result<Json<Introspection>, Error> {
    if client.kind != ClientKind::Confidential {
        tracing::info!(client_id = %client.id, "public client tried to introspect");
        return Err(OAuthError::invalid_client().into());
    }
    let token = params.required("token")?;
    Ok(Json(describe(&state, &client, token).await?))
}

const INACTIVE: Introspection = Introspection::Inactive { active: false };

/// What `caller` may learn about `token`.
async fn describe(state: &AppState, caller: &Client, token: &str) -> Result<Introspection, Error> {
    let presented = Presented::identify(state, token).await?;
    if !presented.visible_to(caller) {
        if presented.client_id().is_some() {
            tracing::info!(client_id = %caller.id, "refused to introspect another client's token");
        }
        return Ok(INACTIVE);
    }
    match presented {
        Presented::Access(_) => Ok(match access_token::active_claims(state, token).await? {
            Some(claims) => Introspection::Access {
                active: true,
                claims,
                token_type: "Bearer",
            },
            None => INACTIVE,
        }),
        Presented::Refresh(refresh) => refresh_introspection(state, refresh).await,
        Presented::Unknown => Ok(INACTIVE),
    }
}

/// A refresh token is active exactly while a refresh with it would succeed
/// ([`tokens::refresh_standing`]).
async fn refresh_introspection(
    state: &AppState,
    refresh: RefreshTokenRow,
) -> Result<Introspection, Error> {
    let now = state.clock.now();
    if tokens::refresh_standing(state, &refresh, now).await? != RefreshStanding::Live {
        return Ok(INACTIVE);
    }
    let grant = refresh.grant;
    Ok(Introspection::Refresh {
        active: true,
        client_id: grant.client_id,
        scope: grant.scope,
        sub: grant.user_id,
        exp: refresh.expires_at,
        iat: refresh.issued_at,
        token_type: "refresh_token",
    })
}
