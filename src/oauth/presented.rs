//! What a token presented to `/introspect` or `/revoke` is: one of our JWT
//! access tokens or one of our refresh tokens, whatever `token_type_hint` says
//! (RFC 7009 §2.1 and RFC 7662 §2.1 make the hint only a hint), and whether the
//! asking client may know about it. Looking a token up never consumes it.

use super::access_token::{self, AccessTokenClaims};
use crate::app::AppState;
use crate::clients::Client;
use crate::crypto::secret::hash_secret;
use crate::store::{RefreshTokenRow, StoreError};

/// A presented token, identified.
#[derive(Debug)]
pub enum Presented {
    /// An access token we signed (any expiry, revoked or not).
    Access(AccessTokenClaims),
    /// A refresh token we issued (any state), with its grant.
    Refresh(RefreshTokenRow),
    /// Not a token of ours.
    Unknown,
}

impl Presented {
    /// Identifies `token`: a signature check first, then a lookup by hash.
    pub async fn identify(state: &AppState, token: &str) -> Result<Self, StoreError> {
        if let Some(claims) = access_token::verified_claims(state, token) {
            return Ok(Self::Access(claims));
        }
        Ok(
            match state.store.find_refresh_token(&hash_secret(token)).await? {
                Some(refresh) => Self::Refresh(refresh),
                None => Self::Unknown,
            },
        )
    }

    /// The client the token was issued to, if it is ours.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Access(claims) => Some(&claims.client_id),
            Self::Refresh(refresh) => Some(&refresh.grant.client_id),
            Self::Unknown => None,
        }
    }

    /// Whether `caller` may learn about this token: its own tokens always; other
    /// clients' tokens only with the `introspect_any` permission (RFC 7662 §4).
    pub fn visible_to(&self, caller: &Client) -> bool {
        self.client_id()
            .is_some_and(|owner| owner == caller.id || caller.introspect_any)
    }
}
