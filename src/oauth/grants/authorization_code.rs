//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636): the
//! code must be fresh, issued to this client for this redirect URI, match the
//! verifier, and come from a session that is still live.
//!
//! Every check happens before anything is consumed, so a request that fails one
//! never burns the code for its rightful client, and every failure gets the same
//! answer (no oracle telling which check failed). The redemption itself is one
//! unit of work — the durable redeemed-code record, the grant, its first refresh
//! token — whose primary key decides which of two racing redemptions wins; the
//! loser, like any later replay, revokes what the winner got (DESIGN.md rule 3).

use super::TokenResponse;
use crate::app::AppState;
use crate::clients::{Client, GrantType};
use crate::crypto::secret::random_id;
use crate::http::Error;
use crate::http::params::FormParams;
use crate::oauth::authorize::code::{self, CodeRecord, REDEEMED_RECORD_SECS};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::pkce;
use crate::oauth::scope::Scope;
use crate::oauth::tokens;
use crate::oidc::claims::ClaimsRequest;
use crate::store::{AuditEvent, GrantFilter, GrantRow, RedeemedCode, StoreError};

/// The one answer to every code that cannot be redeemed, whatever the reason.
fn invalid_code() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidGrant,
        "the authorization code is invalid, expired, already used, or was issued for another request",
    )
}

/// Exchanges a code for tokens.
pub async fn grant(
    state: &AppState,
    client: &Client,
    params: &FormParams,
) -> Result<TokenResponse, Error> {
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization_code grant",
        )
        .into());
    }
    let code = params.required("code")?;
    let code_hash = code::hash(code);
    let Some(record) = code::find(state, code).await? else {
        return match state.store.redeemed_code_grant(&code_hash).await? {
            Some(redeemed) => Err(replayed(state, client, &redeemed).await),
            None => Err(invalid_code().into()),
        };
    };
    if !code::reserve_attempt(state, code).await? {
        tracing::warn!(client_id = %client.id, "too many attempts on one authorization code; it was destroyed");
        return Err(invalid_code().into());
    }
    if let Some(reason) = mismatch(state, client, params, &record) {
        tracing::info!(client_id = %client.id, reason, "authorization code refused");
        return Err(invalid_code().into());
    }
    if !session_still_allows(state, &record).await? {
        tracing::info!(client_id = %client.id, "authorization code of an ended session refused");
        code::forget(state, code).await?;
        return Err(invalid_code().into());
    }

    let now = state.clock.now();
    let scope = Scope::parse(&record.scope).map_err(|_| invalid_code())?;
    let grant = GrantRow {
        id: random_id(22)?,
        client_id: client.id.clone(),
        user_id: record.user_id.clone(),
        scope: record.scope.clone(),
        session_id: Some(record.sid.clone()),
        offline: i64::from(scope.contains("offline_access")),
        auth_time: record.auth_time,
        sign_outs: record.sign_outs,
        amr: serde_json::to_string(&record.amr).unwrap_or_else(|_| "[]".into()),
        acr: record.acr.clone(),
        created_at: now,
        revoked_at: None,
        claims: (record.claims != ClaimsRequest::default())
            .then(|| serde_json::to_string(&record.claims).unwrap_or_default()),
    };
    let pending = tokens::mint(state, &grant, client, &scope, record.nonce.clone()).await?;

    let mut tx = state.store.begin().await?;
    match tx
        .insert_redeemed_code(&code_hash, &grant.id, now + REDEEMED_RECORD_SECS)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Duplicate) => {
            drop(tx);
            let winner = state.store.redeemed_code_grant(&code_hash).await?;
            return Err(match winner {
                Some(redeemed) => replayed(state, client, &redeemed).await,
                None => invalid_code().into(),
            });
        }
        Err(e) => return Err(e.into()),
    }
    tx.insert_grant(&grant).await?;
    pending.record(&mut tx, now).await?;
    tx.commit().await?;
    // A logout or sign-out everywhere may have ended the session between the
    // check above and the commit. Both end their session before revoking its
    // grants, so looking again now catches every such race: revoke what was
    // just written and answer as for any dead code.
    if !session_still_allows(state, &record).await? {
        tracing::info!(client_id = %client.id, "the session ended while its code was redeemed");
        tokens::revoke_grants(state, GrantFilter::Id(&grant.id), None).await?;
        return Err(invalid_code().into());
    }

    if let Err(e) = code::forget(state, code).await {
        tracing::warn!(error = %e, "could not drop a redeemed code from the cache; its record refuses it");
    }
    tracing::info!(client_id = %client.id, "authorization code redeemed");
    Ok(pending.into_set().into())
}

/// Why the request does not match what the code was issued for, if it does not.
fn mismatch(
    state: &AppState,
    client: &Client,
    params: &FormParams,
    record: &CodeRecord,
) -> Option<&'static str> {
    if record.client_id != client.id {
        return Some("issued to another client");
    }
    if params.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Some("redirect_uri differs");
    }
    if record.expires_at <= state.clock.now() {
        return Some("expired");
    }
    match (&record.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => None,
        (Some(_), _) => Some("code_verifier does not match"),
        (None, Some(_)) => Some("code_verifier without a code_challenge"),
        (None, None) => None,
    }
}

/// Whether the session the code was issued in is still live, its account
/// still allows it (not disabled, not signed out everywhere since it began),
/// and the person has not removed the app's access since the code was issued.
async fn session_still_allows(state: &AppState, record: &CodeRecord) -> Result<bool, Error> {
    if !state.sessions().is_live_sid(&record.sid).await? {
        return Ok(false);
    }
    let removals = state
        .store
        .app_access_removals(&record.user_id, &record.client_id)
        .await?;
    if removals != record.app_removals {
        return Ok(false);
    }
    let standing = state.store.account_standing(&record.user_id).await?;
    Ok(standing.is_some_and(|s| s.allows(record.sign_outs)))
}

/// A code presented again after (or while) it was redeemed: revokes the grant
/// the redemption made, with an audit event, and answers `invalid_grant`.
async fn replayed(state: &AppState, client: &Client, redeemed: &RedeemedCode) -> Error {
    if redeemed.client_id != client.id {
        // Another client holding a copy of the code is no sign that the code
        // leaked from its rightful client, and must not be able to end that
        // client's grant (anyone can present a code; a public client needs
        // no secret to do it).
        tracing::warn!(client_id = %client.id, "a redeemed code of another client was presented");
        return invalid_code().into();
    }
    let event = AuditEvent {
        kind: "authorization_code_replay",
        user_id: None,
        client_id: Some(&client.id),
        detail: "a redeemed authorization code was presented again; its grant was revoked",
    };
    match tokens::revoke_grants(state, GrantFilter::Id(&redeemed.grant_id), Some(event)).await {
        Ok(_) => invalid_code().into(),
        Err(e) => e.into(),
    }
}
