//! The tokens of a user grant: issuing a set (access token, ID token, rotating
//! refresh token) and revoking whole grants (DESIGN.md rules 3, 6, 7).

use super::access_token::{self, grant_revocation_id};
use super::error::OAuthError;
use super::scope::Scope;
use crate::app::AppState;
use crate::clients::{Client, GrantType};
use crate::config::Config;
use crate::crypto::secret::{hash_secret, new_secret};
use crate::oidc::id_token::{self, ACR, IdTokenClaims};
use crate::store::{AuditEvent, GrantFilter, GrantRow, Store, StoreError};

/// What one token request hands out.
#[derive(Debug)]
pub struct TokenSet {
    /// The JWT access token.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// An ID token when `openid` was granted.
    pub id_token: Option<String>,
    /// A new refresh token when the client may refresh.
    pub refresh_token: Option<String>,
    /// The scope of this access token.
    pub scope: Scope,
}

/// Issues a token set for `grant` with `scope` (the grant's or narrower).
/// `nonce` is echoed in the ID token of an authorization-code exchange only.
pub async fn issue(
    state: &AppState,
    grant: &GrantRow,
    client: &Client,
    scope: &Scope,
    nonce: Option<String>,
) -> Result<TokenSet, OAuthError> {
    let now = state.clock.now();
    let config = &state.config;
    let access = access_token::mint(state, &client.id, &grant.user_id, scope, Some(&grant.id))
        .await
        .map_err(signing_failed)?;
    let id_token = if scope.contains("openid") {
        let claims = IdTokenClaims {
            iss: config.issuer.clone(),
            sub: grant.user_id.clone(),
            aud: client.id.clone(),
            azp: client.id.clone(),
            exp: now.saturating_add(config.id_token_ttl_secs),
            iat: now,
            auth_time: grant.auth_time,
            nonce,
            at_hash: Some(id_token::at_hash(&access.token)),
            sid: grant.session_id.clone(),
            amr: serde_json::from_str(&grant.amr).unwrap_or_default(),
            acr: ACR.to_owned(),
        };
        Some(
            id_token::mint(state, claims)
                .await
                .map_err(signing_failed)?,
        )
    } else {
        None
    };
    let refresh_token = if client.allows_grant(GrantType::RefreshToken) {
        let token = new_secret().map_err(signing_failed)?;
        let absolute_end = grant
            .created_at
            .saturating_add(config.refresh_token_absolute_ttl_secs);
        let expires_at = now
            .saturating_add(config.refresh_token_idle_ttl_secs)
            .min(absolute_end);
        state
            .store
            .insert_refresh_token(&hash_secret(&token), &grant.id, expires_at, now)
            .await
            .map_err(store_failed)?;
        Some(token)
    } else {
        None
    };
    Ok(TokenSet {
        access_token: access.token,
        expires_in: access.expires_in,
        id_token,
        refresh_token,
        scope: scope.clone(),
    })
}

/// Revokes the grants `filter` selects — their refresh tokens stop working and
/// their access tokens introspect as inactive at once — and records `audit`.
pub async fn revoke_grants(
    state: &AppState,
    filter: GrantFilter<'_>,
    audit: Option<AuditEvent<'_>>,
) -> Result<usize, StoreError> {
    revoke_grants_in(
        &state.store,
        &state.config,
        state.clock.now(),
        filter,
        audit,
    )
    .await
}

/// [`revoke_grants`] for callers without a running server (the CLI).
pub async fn revoke_grants_in(
    store: &Store,
    config: &Config,
    now: i64,
    filter: GrantFilter<'_>,
    audit: Option<AuditEvent<'_>>,
) -> Result<usize, StoreError> {
    let revoked = store.revoke_grants(filter, now).await?;
    let access_tokens_end = now.saturating_add(config.access_token_ttl_secs);
    for grant_id in &revoked {
        store
            .revoke_access_token(&grant_revocation_id(grant_id), access_tokens_end)
            .await?;
    }
    if let Some(event) = audit {
        store.record_audit(&event, now).await?;
        tracing::warn!(kind = event.kind, grants = revoked.len(), "grants revoked");
    }
    Ok(revoked.len())
}

/// Ends everything a person is signed in with (DESIGN.md rule 7): every browser
/// session, every grant (refresh tokens and access tokens with them, offline
/// ones included). `reason` is recorded as an audit event.
pub async fn end_user_access(
    store: &Store,
    config: &Config,
    now: i64,
    user_id: &str,
    reason: &str,
) -> Result<usize, StoreError> {
    store.sign_out_everywhere(user_id, now).await?;
    let event = AuditEvent {
        kind: "user_signed_out_everywhere",
        user_id: Some(user_id),
        client_id: None,
        detail: reason,
    };
    revoke_grants_in(store, config, now, GrantFilter::User(user_id), Some(event)).await
}

fn signing_failed(e: crate::crypto::CryptoError) -> OAuthError {
    tracing::error!(error = %e, "could not issue a token");
    OAuthError::server_error()
}

/// Maps a store failure to `server_error`, logging the cause.
pub fn store_failed(e: StoreError) -> OAuthError {
    tracing::error!(error = %e, "database failure during a token request");
    OAuthError::server_error()
}
