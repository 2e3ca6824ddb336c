//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3): HTTP Basic or form-body secrets, exactly one method per
//! request, the method the client registered, secrets compared in constant time.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;

use super::error::OAuthError;
use crate::app::AppState;
use crate::clients::{AuthMethod, Client, RegistryError};
use crate::crypto::secret::verify_secret;
use crate::http::Error;
use crate::http::params::FormParams;

/// What a request presented to identify its client. Its `Debug` never shows the secret.
pub struct ClientCredentials {
    client_id: String,
    secret: Option<String>,
    method: AuthMethod,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// Reads credentials from the `Authorization` header and the form body.
    pub fn from_request(
        authorization: Option<&HeaderValue>,
        params: &FormParams,
    ) -> Result<Self, OAuthError> {
        let body_secret = params.get("client_secret");
        if let Some(header) = authorization {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not several",
                ));
            }
            let (client_id, secret) = parse_basic(header).ok_or_else(OAuthError::invalid_client)?;
            if params.get("client_id").is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the credentials",
                ));
            }
            return Ok(Self {
                client_id,
                secret: Some(secret),
                method: AuthMethod::ClientSecretBasic,
            });
        }
        let client_id = params
            .get("client_id")
            .ok_or_else(OAuthError::invalid_client)?
            .to_owned();
        Ok(match body_secret {
            Some(secret) => Self {
                client_id,
                secret: Some(secret.to_owned()),
                method: AuthMethod::ClientSecretPost,
            },
            None => Self {
                client_id,
                secret: None,
                method: AuthMethod::None,
            },
        })
    }

    /// Looks the client up and checks the credentials against its registration.
    /// Every failure is the same `invalid_client`; the reason goes to the log.
    /// An admin client is always read fresh from the database, so a rotated
    /// secret stops minting admin tokens at once, on every instance.
    pub async fn authenticate(self, state: &AppState) -> Result<Arc<Client>, Error> {
        let found = match state.clients.get(&state.store, &self.client_id).await {
            Ok(cached) if cached.is_admin() => crate::clients::find(&state.store, &self.client_id)
                .await
                .map(Arc::new),
            other => other,
        };
        let client = match found {
            Ok(client) => client,
            Err(RegistryError::NotFound) => {
                // Spend the same work as a known client would, then refuse.
                let _ = self.secret.as_deref().map(|s| verify_secret(s, &[0; 32]));
                tracing::info!("client authentication failed: unknown client");
                return Err(OAuthError::invalid_client().into());
            }
            Err(e) => return Err(Error::internal(e)),
        };
        if client.auth_method != self.method {
            tracing::info!(client_id = %client.id, used = %self.method, registered = %client.auth_method,
                "client authentication failed: wrong method");
            return Err(OAuthError::invalid_client().into());
        }
        let verified = match (&self.secret, &client.secret_hash) {
            (None, None) => true,
            (Some(secret), Some(hash)) => verify_secret(secret, hash),
            _ => false,
        };
        if !verified {
            tracing::info!(client_id = %client.id, "client authentication failed: bad secret");
            return Err(OAuthError::invalid_client().into());
        }
        Ok(client)
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(header: &HeaderValue) -> Option<(String, String)> {
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let id = unescape(id)?;
    (!id.is_empty()).then_some(())?;
    Some((id, unescape(secret)?))
}

/// A client that authenticated itself on this request (RFC 6749 §2.3), with
/// the request's form parameters: what the token, introspection and
/// revocation endpoints each begin with. A malformed form is
/// `invalid_request`; any failure to authenticate is `invalid_client`.
pub struct AuthenticatedClient {
    /// The client, as registered.
    pub client: Arc<Client>,
    /// The request's form parameters.
    pub params: FormParams,
}

impl FromRequest<AppState> for AuthenticatedClient {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        let authorization = req.headers().get(AUTHORIZATION).cloned();
        let params = FormParams::from_request(req, state).await?;
        let client = ClientCredentials::from_request(authorization.as_ref(), &params)?
            .authenticate(state)
            .await?;
        Ok(Self { client, params })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw))).unwrap()
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(
            parse_basic(&basic("my%20app:s%3Acret+x")),
            Some(("my app".into(), "s:cret x".into()))
        );
        assert_eq!(parse_basic(&basic(":secret")), None);
        assert_eq!(parse_basic(&HeaderValue::from_static("Bearer abc")), None);
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let params = FormParams::parse(b"client_id=a&client_secret=b").unwrap();
        let err = ClientCredentials::from_request(Some(&basic("a:b")), &params).unwrap_err();
        assert_eq!(err.error, super::super::error::ErrorCode::InvalidRequest);
    }
}
