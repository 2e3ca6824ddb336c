//! The tokens of a user grant: signing a set (access token, ID token, rotating
//! refresh token) that the caller records in its unit of work, and revoking
//! whole grants (DESIGN.md rules 3, 6, 7).

use super::access_token;
use super::scope::Scope;
use crate::app::AppState;
use crate::clients::{Client, GrantType};
use crate::crypto::secret::{hash_secret, new_secret};
use crate::http::Error;
use crate::oidc::acr::Level;
use crate::oidc::claims::ClaimsRequest;
use crate::oidc::id_token::{self, IdTokenClaims};
use crate::store::{AuditEvent, GrantFilter, GrantRow, RefreshTokenRow, StoreError, Tx};

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

/// A token set that is signed but not yet valid: its refresh token exists only
/// once [`PendingSet::record`] has written it in the caller's unit of work and
/// that has committed. Signing comes first so that a commit is never followed
/// by a failure that loses the tokens it made valid.
#[derive(Debug)]
pub struct PendingSet {
    set: TokenSet,
    refresh: Option<PendingRefresh>,
}

#[derive(Debug)]
struct PendingRefresh {
    hash: Vec<u8>,
    grant_id: String,
    expires_at: i64,
}

impl PendingSet {
    /// Writes the set's refresh token (if any) into `tx`.
    pub async fn record(&self, tx: &mut Tx, now: i64) -> Result<(), StoreError> {
        match &self.refresh {
            Some(r) => {
                tx.insert_refresh_token(&r.hash, &r.grant_id, r.expires_at, now)
                    .await
            }
            None => Ok(()),
        }
    }

    /// The tokens to hand out, once the unit of work that recorded them committed.
    pub fn into_set(self) -> TokenSet {
        self.set
    }
}

/// Signs a token set for `grant` with `scope` (the grant's or narrower).
/// `nonce` is echoed in the ID token of an authorization-code exchange only.
pub async fn mint(
    state: &AppState,
    grant: &GrantRow,
    client: &Client,
    scope: &Scope,
    nonce: Option<String>,
) -> Result<PendingSet, Error> {
    let now = state.clock.now();
    let config = &state.config;
    // As registered now: claims of a scope the client may no longer ask for stop.
    let asked = grant
        .claims
        .as_deref()
        .and_then(|text| serde_json::from_str::<ClaimsRequest>(text).ok())
        .unwrap_or_default()
        .within(|scope| client.scope.contains(scope));
    let access = access_token::mint(
        state,
        &client.id,
        &grant.user_id,
        scope,
        Some(&grant.id),
        &asked.userinfo,
    )
    .await?;
    let id_token = if scope.contains("openid") {
        let asked = if asked.id_token.is_empty() {
            serde_json::Map::new()
        } else {
            let user = crate::users::find(&state.store, &grant.user_id)
                .await
                .map_err(Error::internal)?;
            crate::oidc::claims::released(&user, &Scope::default(), &asked.id_token)
        };
        // What the sign-in behind the grant reached, as issued (grants from
        // before the acr was kept report the level their amr reached).
        let amr: Vec<String> = serde_json::from_str(&grant.amr).unwrap_or_default();
        let acr = match grant.acr.as_str() {
            "" => Level::of_amr(&amr).value().to_owned(),
            kept => kept.to_owned(),
        };
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
            amr: amr.clone(),
            acr,
            asked,
        };
        Some(id_token::mint(state, claims).await?)
    } else {
        None
    };
    let (refresh_token, refresh) = if client.allows_grant(GrantType::RefreshToken) {
        let token = new_secret()?;
        let absolute_end = grant
            .created_at
            .saturating_add(config.refresh_token_absolute_ttl_secs);
        let pending = PendingRefresh {
            hash: hash_secret(&token),
            grant_id: grant.id.clone(),
            expires_at: now
                .saturating_add(config.refresh_token_idle_ttl_secs)
                .min(absolute_end),
        };
        (Some(token), Some(pending))
    } else {
        (None, None)
    };
    Ok(PendingSet {
        set: TokenSet {
            access_token: access.token,
            expires_in: access.expires_in,
            id_token,
            refresh_token,
            scope: scope.clone(),
        },
        refresh,
    })
}

/// What a stored refresh token may do now. The one rule the refresh grant and
/// introspection share, so a token never introspects as active while a refresh
/// with it would fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStanding {
    /// Usable: unconsumed, unexpired, its grant live, its person allowed, and
    /// — unless it was issued for offline access — its browser session live.
    Live,
    /// Consumed already, in a live grant: presenting it again is a reuse.
    Consumed,
    /// Its grant is revoked, it expired, or its person or session ended.
    Ended,
}

/// Decides the [`RefreshStanding`] of `found` at `now`. A revoked grant is
/// decided first, so replaying an old token of a dead family is never a reuse
/// (and cannot fill the audit log). At most one cache read (the session of an
/// online grant).
pub async fn refresh_standing(
    state: &AppState,
    found: &RefreshTokenRow,
    now: i64,
) -> Result<RefreshStanding, Error> {
    let grant = &found.grant;
    if grant.revoked_at.is_some() {
        return Ok(RefreshStanding::Ended);
    }
    if found.used_at.is_some() {
        return Ok(RefreshStanding::Consumed);
    }
    let account_allows = found.account.is_some_and(|a| a.allows(grant.sign_outs));
    if found.expires_at <= now || !account_allows {
        return Ok(RefreshStanding::Ended);
    }
    if grant.offline == 0 && !session_live(state, grant).await? {
        return Ok(RefreshStanding::Ended);
    }
    Ok(RefreshStanding::Live)
}

/// Whether the browser session of an online grant is still live (one cache read).
async fn session_live(state: &AppState, grant: &GrantRow) -> Result<bool, Error> {
    let Some(sid) = grant.session_id.as_deref() else {
        return Ok(false);
    };
    Ok(state.sessions().is_live_sid(sid).await?)
}

/// Revokes the grants `filter` selects — their refresh tokens stop working and
/// their access tokens introspect as inactive at once — and records `audit`,
/// in a unit of work of its own (see [`Tx::revoke_grants`]).
pub async fn revoke_grants(
    state: &AppState,
    filter: GrantFilter<'_>,
    audit: Option<AuditEvent<'_>>,
) -> Result<usize, StoreError> {
    let mut tx = state.store.begin().await?;
    let revoked = tx
        .revoke_grants(filter, state.clock.now(), audit.as_ref())
        .await?;
    tx.commit().await?;
    if let Some(event) = audit {
        tracing::warn!(kind = event.kind, grants = revoked, "grants revoked");
    }
    Ok(revoked)
}
