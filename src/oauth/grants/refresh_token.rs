//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection
//! (DESIGN.md rule 6): every use returns a new refresh token and consumes the
//! old one; a consumed token presented again revokes the whole grant.
//!
//! Everything is checked before the token is consumed; the tokens are signed
//! before the rotation (consume the old token, record the new one) runs as one
//! unit of work, so a failed write leaves the old token usable and the client's
//! ordinary retry succeeds instead of looking like reuse.

use super::TokenResponse;
use crate::app::AppState;
use crate::clients::{Client, GrantType};
use crate::crypto::secret::hash_secret;
use crate::http::Error;
use crate::http::params::FormParams;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scope::Scope;
use crate::oauth::tokens::{self, RefreshStanding};
use crate::store::{AuditEvent, GrantFilter, GrantRow};

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
) -> Result<TokenResponse, Error> {
    if !client.allows_grant(GrantType::RefreshToken) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the refresh_token grant",
        )
        .into());
    }
    let token_hash = hash_secret(params.required("refresh_token")?);
    let now = state.clock.now();

    // The token must belong to this client before it is consumed, so a leaked
    // token presented by another client neither works nor burns the family.
    let found = state
        .store
        .find_refresh_token(&token_hash)
        .await?
        .ok_or_else(invalid_grant)?;
    let grant = &found.grant;
    if grant.client_id != client.id {
        tracing::warn!(client_id = %client.id, "refresh token of another client presented");
        return Err(invalid_grant().into());
    }
    let scope = refreshed_scope(grant, client, params.get("scope"))?;
    match tokens::refresh_standing(state, &found, now).await? {
        RefreshStanding::Live => {}
        RefreshStanding::Consumed => return Err(reused(state, grant, client).await),
        RefreshStanding::Ended => {
            tracing::info!(client_id = %client.id, "refresh token of an ended grant, account or session refused");
            return Err(invalid_grant().into());
        }
    }

    let pending = tokens::mint(state, grant, client, &scope, None).await?;
    let mut tx = state.store.begin().await?;
    if !tx.consume_refresh_token(&token_hash, now).await? {
        // A concurrent use consumed it first: this one is the reuse.
        drop(tx);
        return Err(reused(state, grant, client).await);
    }
    pending.record(&mut tx, now).await?;
    tx.commit().await?;
    tracing::info!(client_id = %client.id, "refresh token rotated");
    Ok(pending.into_set().into())
}

/// The scope of the new tokens: the requested one (which may narrow, never
/// widen, the grant's; RFC 6749 §6), or the grant's, less whatever the client
/// is no longer allowed.
fn refreshed_scope(
    grant: &GrantRow,
    client: &Client,
    requested: Option<&str>,
) -> Result<Scope, Error> {
    let granted = Scope::parse(&grant.scope).map_err(|_| invalid_grant())?;
    let wanted = match requested {
        None => granted,
        Some(text) => {
            let requested = Scope::parse(text)
                .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
            if !requested.is_subset_of(&granted) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "a refresh may narrow the scope, never widen it",
                )
                .into());
            }
            requested
        }
    };
    let allowed = wanted
        .tokens()
        .iter()
        .map(String::as_str)
        .filter(|token| client.scope.contains(token));
    Scope::from_tokens(allowed).map_err(|_| invalid_grant().into())
}

/// A consumed token presented again: revokes the grant with an audit event.
async fn reused(state: &AppState, grant: &GrantRow, client: &Client) -> Error {
    let event = AuditEvent {
        kind: "refresh_token_reuse",
        user_id: Some(&grant.user_id),
        client_id: Some(&client.id),
        detail: "a consumed refresh token was presented again; the grant was revoked",
    };
    match tokens::revoke_grants(state, GrantFilter::Id(&grant.id), Some(event)).await {
        Ok(_) => invalid_grant().into(),
        Err(e) => e.into(),
    }
}
