//! Authorization codes (DESIGN.md rule 3): 256-bit, single use, at most 60 s,
//! bound to client, redirect URI, PKCE challenge, nonce and session. Kept in the
//! cache by hash; a redeemed code leaves a marker naming its grant, so a replay
//! can revoke what the first redemption issued.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::request::AuthorizationRequest;
use crate::app::AppState;
use crate::cache::CacheError;
use crate::clock::UnixTime;
use crate::crypto::secret::{hash_secret, new_secret};
use crate::login::FlowError;
use crate::login::session::Session;

/// How long the marker of a redeemed code is kept to catch replays.
const REDEEMED_MARKER_SECS: u64 = 600;

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
    /// The session's public id.
    pub sid: String,
    /// Expiry.
    pub expires_at: UnixTime,
}

/// What presenting a code found.
#[derive(Debug)]
pub enum Redemption {
    /// A live code, now consumed.
    Fresh(Box<CodeRecord>),
    /// A code that was already redeemed, with the grant it produced.
    Replayed(String),
    /// No such code (or expired long ago).
    Unknown,
}

fn code_key(code: &str) -> String {
    format!("code:{}", URL_SAFE_NO_PAD.encode(hash_secret(code)))
}

fn redeemed_key(code: &str) -> String {
    format!(
        "code-redeemed:{}",
        URL_SAFE_NO_PAD.encode(hash_secret(code))
    )
}

/// Mints a code for `request`, signed in as `session`.
pub async fn issue(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &Session,
) -> Result<String, FlowError> {
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
        sid: session.sid.clone(),
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

/// Consumes `code` atomically: of two concurrent redemptions one gets it.
pub async fn redeem(state: &AppState, code: &str) -> Result<Redemption, CacheError> {
    if let Some(bytes) = state.cache.take(&code_key(code)).await? {
        return Ok(match serde_json::from_slice::<CodeRecord>(&bytes) {
            Ok(record) => Redemption::Fresh(Box::new(record)),
            Err(_) => Redemption::Unknown,
        });
    }
    Ok(match state.cache.get(&redeemed_key(code)).await? {
        Some(grant) => Redemption::Replayed(String::from_utf8_lossy(&grant).into_owned()),
        None => Redemption::Unknown,
    })
}

/// Remembers that `code` produced `grant_id`, for replay detection.
pub async fn mark_redeemed(state: &AppState, code: &str, grant_id: &str) -> Result<(), CacheError> {
    state
        .cache
        .put(
            &redeemed_key(code),
            grant_id.as_bytes(),
            REDEEMED_MARKER_SECS,
        )
        .await
}
