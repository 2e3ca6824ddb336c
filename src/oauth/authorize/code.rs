//! Authorization codes (DESIGN.md rule 3): 256-bit, single use, at most 60 s,
//! bound to client, redirect URI, PKCE challenge, nonce and session. Kept in the
//! cache by hash. Reading a code consumes nothing: the token endpoint checks
//! everything first, and a redemption is the durable `redeemed_codes` record
//! written with its grant (see `grants::authorization_code`); the code leaves
//! the cache only after that commits. Attempts on one code are limited.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::request::AuthorizationRequest;
use crate::app::AppState;
use crate::cache::CacheError;
use crate::clock::UnixTime;
use crate::crypto::secret::{hash_secret, new_secret};
use crate::login::session::Session;
use crate::oidc::claims::ClaimsRequest;
use crate::service_error::ServiceError;

/// How long the record of a redeemed code is kept to catch replays, seconds.
pub const REDEEMED_RECORD_SECS: i64 = 600;

/// Token requests one code may take part in; the one after destroys it.
const MAX_ATTEMPTS: u64 = 5;

/// Everything a code stands for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI it was sent to; the token request must repeat it.
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// OIDC nonce for the ID token.
    pub nonce: Option<String>,
    /// The person.
    pub user_id: String,
    /// Granted scope.
    pub scope: String,
    /// When the person authenticated.
    pub auth_time: UnixTime,
    /// How.
    pub amr: Vec<String>,
    /// The authentication context class to report ([`crate::oidc::acr`]):
    /// decided when the code is issued, from the session's `amr` and the
    /// request's `acr_values`, and kept by the grant for every refresh.
    #[serde(default)]
    pub acr: String,
    /// The session's public id.
    pub sid: String,
    /// The person's sign-out count when that session began. A code minted
    /// before sign-outs were counted reads as 0: it still redeems for a person
    /// never signed out everywhere; anyone else's client signs in again.
    #[serde(default)]
    pub sign_outs: i64,
    /// How many times the person had removed the client's access when the
    /// code was issued: once that count moves on, the code is refused.
    #[serde(default)]
    pub app_removals: i64,
    /// Individual claims asked for with the `claims` parameter.
    #[serde(default)]
    pub claims: ClaimsRequest,
    /// Expiry.
    pub expires_at: UnixTime,
}

/// The hash of a code: its cache key and its `redeemed_codes` key.
pub fn hash(code: &str) -> Vec<u8> {
    hash_secret(code)
}

fn code_key(code: &str) -> String {
    format!("code:{}", URL_SAFE_NO_PAD.encode(hash_secret(code)))
}

fn attempts_key(code: &str) -> String {
    format!(
        "code-attempts:{}",
        URL_SAFE_NO_PAD.encode(hash_secret(code))
    )
}

/// Mints a code for `request`, signed in as `session`, reporting `acr`.
/// `app_removals` is the person's count of removals of the client's access,
/// read before consent was decided (so a removal landing after that decision
/// refuses the code).
pub async fn issue(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &Session,
    app_removals: i64,
    acr: String,
) -> Result<String, ServiceError> {
    let ttl = state.config.authorization_code_ttl_secs;
    let record = CodeRecord {
        client_id: request.client_id.clone(),
        redirect_uri: request.target.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        user_id: session.user_id.clone(),
        scope: request.scope.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        acr,
        sid: session.sid.clone(),
        sign_outs: session.sign_outs,
        app_removals,
        claims: request.claims.clone(),
        expires_at: state.clock.now().saturating_add(ttl),
    };
    let code = new_secret()?;
    let bytes = serde_json::to_vec(&record).unwrap_or_default();
    state
        .cache
        .put(&code_key(&code), &bytes, u64::try_from(ttl).unwrap_or(60))
        .await?;
    Ok(code)
}

/// What `code` stands for while it is live (unexpired in the cache), without
/// consuming it.
pub async fn find(state: &AppState, code: &str) -> Result<Option<CodeRecord>, CacheError> {
    Ok(state
        .cache
        .get(&code_key(code))
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Counts a token request against `code` before anything about it is checked
/// (atomically, so parallel guesses cannot outrun the count); `false` once the
/// limit is passed, and the code is then destroyed.
pub async fn reserve_attempt(state: &AppState, code: &str) -> Result<bool, CacheError> {
    let ttl = u64::try_from(state.config.authorization_code_ttl_secs).unwrap_or(60);
    let attempts = state.cache.incr(&attempts_key(code), ttl).await?;
    if attempts > MAX_ATTEMPTS {
        forget(state, code).await?;
        return Ok(false);
    }
    Ok(true)
}

/// Removes `code` from the cache: after its redemption committed, or when it
/// can never succeed.
pub async fn forget(state: &AppState, code: &str) -> Result<(), CacheError> {
    state.cache.delete(&code_key(code)).await
}
