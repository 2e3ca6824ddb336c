//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection
//! (DESIGN.md rule 6): every use returns a new refresh token and consumes the
//! old one; a consumed token presented again revokes the whole grant.

use super::TokenResponse;
use crate::app::AppState;
use crate::clients::{Client, GrantType};
use crate::crypto::secret::hash_secret;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::FormParams;
use crate::oauth::scope::Scope;
use crate::oauth::tokens::{self, store_failed};
use crate::store::{AuditEvent, GrantFilter, RefreshUse, StoreError};

fn invalid_grant() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidGrant,
        "the refresh token is invalid, expired or revoked",
    )
}

/// Exchanges a refresh token for a new token set.
pub async fn grant(
    state: &AppState,
    client: &Client,
    params: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::RefreshToken) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the refresh_token grant",
        ));
    }
    let token_hash = hash_secret(params.required("refresh_token")?);
    let now = state.clock.now();

    // The token must belong to this client before it is consumed, so a leaked
    // token presented by another client neither works nor burns the family.
    let grant_id = state
        .store
        .find_refresh_token(&token_hash)
        .await
        .map_err(store_failed)?
        .ok_or_else(invalid_grant)?;
    let grant = match state.store.get_grant(&grant_id).await {
        Ok(grant) if grant.client_id == client.id => grant,
        Ok(_) => {
            tracing::warn!(client_id = %client.id, "refresh token of another client presented");
            return Err(invalid_grant());
        }
        Err(StoreError::NotFound) => return Err(invalid_grant()),
        Err(e) => return Err(store_failed(e)),
    };

    // Everything about the request is checked before the token is consumed, so
    // a malformed request never burns a valid token.
    let granted = Scope::parse(&grant.scope).map_err(|_| invalid_grant())?;
    let scope = match params.get("scope") {
        None => granted,
        Some(text) => {
            let requested = Scope::parse(text)
                .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
            if !requested.is_subset_of(&granted) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "a refresh may narrow the scope, never widen it",
                ));
            }
            requested
        }
    };

    let expires_at = match state
        .store
        .use_refresh_token(&token_hash, now)
        .await
        .map_err(store_failed)?
    {
        RefreshUse::Consumed { expires_at, .. } => expires_at,
        RefreshUse::Reused { .. } => {
            let event = AuditEvent {
                kind: "refresh_token_reuse",
                user_id: Some(&grant.user_id),
                client_id: Some(&client.id),
                detail: "a consumed refresh token was presented again; the grant was revoked",
            };
            tokens::revoke_grants(state, GrantFilter::Id(&grant.id), Some(event))
                .await
                .map_err(store_failed)?;
            return Err(invalid_grant());
        }
        RefreshUse::Unknown => return Err(invalid_grant()),
    };
    if grant.revoked_at.is_some() || expires_at <= now {
        return Err(invalid_grant());
    }
    if !crate::users::is_active(&state.store, &grant.user_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "user lookup failed");
            OAuthError::server_error()
        })?
    {
        return Err(invalid_grant());
    }

    let set = tokens::issue(state, &grant, client, &scope, None).await?;
    tracing::info!(client_id = %client.id, "refresh token rotated");
    Ok(set.into())
}
