//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636): the
//! code must be fresh, issued to this client for this redirect URI, and match
//! the verifier. A replayed code revokes what its first redemption issued
//! (DESIGN.md rule 3).

use super::TokenResponse;
use crate::app::AppState;
use crate::clients::{Client, GrantType};
use crate::crypto::secret::random_id;
use crate::oauth::authorize::code::{self, Redemption};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::FormParams;
use crate::oauth::pkce;
use crate::oauth::scope::Scope;
use crate::oauth::tokens::{self, store_failed};
use crate::store::{AuditEvent, GrantFilter, GrantRow};

fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

/// Exchanges a code for tokens.
pub async fn grant(
    state: &AppState,
    client: &Client,
    params: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization_code grant",
        ));
    }
    let code = params.required("code")?;
    let redemption = code::redeem(state, code).await.map_err(|e| {
        tracing::error!(error = %e, "code lookup failed");
        OAuthError::server_error()
    })?;
    let record = match redemption {
        Redemption::Fresh(record) => record,
        Redemption::Replayed(grant_id) => {
            let event = AuditEvent {
                kind: "authorization_code_replay",
                user_id: None,
                client_id: Some(&client.id),
                detail: "a redeemed authorization code was presented again; its grant was revoked",
            };
            tokens::revoke_grants(state, GrantFilter::Id(&grant_id), Some(event))
                .await
                .map_err(store_failed)?;
            return Err(invalid_grant("the authorization code was already used"));
        }
        Redemption::Unknown => {
            return Err(invalid_grant(
                "the authorization code is invalid or expired",
            ));
        }
    };
    let now = state.clock.now();
    if record.client_id != client.id {
        return Err(invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if params.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if record.expires_at <= now {
        return Err(invalid_grant("the authorization code has expired"));
    }
    match (&record.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => {}
        (Some(_), _) => {
            return Err(invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid_grant(
                "code_verifier sent but no code_challenge was",
            ));
        }
        (None, None) => {}
    }
    if !crate::users::is_active(&state.store, &record.user_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "user lookup failed");
            OAuthError::server_error()
        })?
    {
        return Err(invalid_grant("the account is no longer active"));
    }

    let scope = Scope::parse(&record.scope).map_err(|_| invalid_grant("corrupt code"))?;
    let grant = GrantRow {
        id: random_id(22).map_err(|_| OAuthError::server_error())?,
        client_id: client.id.clone(),
        user_id: record.user_id.clone(),
        scope: record.scope.clone(),
        session_id: Some(record.sid.clone()),
        offline: i64::from(scope.contains("offline_access")),
        auth_time: record.auth_time,
        amr: serde_json::to_string(&record.amr).unwrap_or_else(|_| "[]".into()),
        created_at: now,
        revoked_at: None,
    };
    state
        .store
        .insert_grant(&grant)
        .await
        .map_err(store_failed)?;
    if let Err(e) = code::mark_redeemed(state, code, &grant.id).await {
        tracing::warn!(error = %e, "could not record the code redemption");
    }
    let set = tokens::issue(state, &grant, client, &scope, record.nonce.clone()).await?;
    tracing::info!(client_id = %client.id, "authorization code redeemed");
    Ok(set.into())
}
