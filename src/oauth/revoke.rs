//! `POST /revoke` (RFC 7009): a client revokes an access or refresh token
//! issued to it. Revoking a refresh token revokes its whole grant, so the
//! refresh token and every access token of the grant stop working at once
//! (§2.1). The answer is 200 whether the token was valid, unknown or another
//! client's (§2.2), so it reveals nothing; refusals go to the log.

use axum::extract::State;
use axum::http::StatusCode;

use super::client_auth::AuthenticatedClient;
use super::presented::Presented;
use super::tokens;
use crate::app::AppState;
use crate::http::Error;
use crate::store::{AuditEvent, GrantFilter};

/// The revocation endpoint. `token_type_hint` is only a hint (§2.1): any value,
/// known or not, is accepted and every token type we issue is tried.
pub async fn revoke(
    State(state): State<AppState>,
    AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Result<StatusCode, Error> {
    let token = params.required("token")?;
    let presented = Presented::identify(&state, token).await?;
    let owned = presented.client_id() == Some(client.id.as_str());
    match presented {
        Presented::Unknown => {
            tracing::info!(client_id = %client.id, "revocation of an unknown token");
        }
        _ if !owned => {
            tracing::warn!(client_id = %client.id, "refused to revoke another client's token");
        }
        Presented::Access(claims) => {
            state
                .store
                .revoke_access_token(&claims.jti, claims.exp)
                .await?;
            tracing::info!(client_id = %client.id, "access token revoked");
        }
        Presented::Refresh(refresh) if refresh.grant.revoked_at.is_some() => {
            tracing::info!(client_id = %client.id, "refresh token of an already revoked grant");
        }
        Presented::Refresh(refresh) => {
            let event = AuditEvent {
                kind: "refresh_token_revoked",
                user_id: Some(&refresh.grant.user_id),
                client_id: Some(&client.id),
                detail: "the client revoked a refresh token; its grant was revoked",
            };
            tokens::revoke_grants(&state, GrantFilter::Id(&refresh.grant.id), Some(event)).await?;
            tracing::info!(client_id = %client.id, "refresh token revoked with its grant");
        }
    }
    Ok(StatusCode::OK)
}
