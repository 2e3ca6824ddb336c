//! Registry operations shared by the admin API and the CLI.

use super::model::{
    AuthMethod, Client, ClientKind, ClientPatch, ClientSpec, ClientView, GrantType,
};
use super::validate::{ValidSpec, ValidationError};
use crate::clock::UnixTime;
use crate::crypto::CryptoError;
use crate::crypto::secret::{hash_secret, new_secret, random_id};
use crate::oauth::scope::Scope;
use crate::store::{ClientRow, Store, StoreError};

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registration breaks a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No client has that id.
    #[error("no client with that client_id")]
    NotFound,
    /// Public clients have no secret to rotate.
    #[error("public clients have no secret")]
    NoSecret,
    /// A change whose fields are each fine but that would leave the client, as a
    /// whole, breaking a rule (it depends on the stored client, not the request alone).
    #[error("the change would leave the client breaking a rule: {0}")]
    Conflicts(ValidationError),
    /// Random generation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => RegistryError::NotFound,
            other => RegistryError::Store(other),
        }
    }
}

/// A new registration: the client and, for confidential clients, its secret,
/// shown this once and never again. Its `Debug` never shows the secret.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Registered {
    /// The registered client.
    #[serde(flatten)]
    pub client: ClientView,
    /// The client secret; only its hash is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// Validates and stores a new client; generates its id and (if confidential) its secret.
pub async fn register(
    store: &Store,
    now: UnixTime,
    spec: ClientSpec,
) -> Result<Registered, RegistryError> {
    let valid = spec.validate()?;
    let secret = match valid.kind {
        ClientKind::Confidential => Some(new_secret()?),
        ClientKind::Public => None,
    };
    let client = build(
        random_id(22)?,
        valid,
        secret.as_deref().map(hash_secret),
        None,
        now,
        now,
    );
    store.insert_client(&to_row(&client)?).await?;
    tracing::info!(client_id = %client.id, "client registered");
    Ok(Registered {
        client: client.view(),
        client_secret: secret,
    })
}

/// One client by id.
pub async fn find(store: &Store, id: &str) -> Result<Client, RegistryError> {
    from_row(store.get_client(id).await?)
}

/// Every client.
pub async fn list(store: &Store) -> Result<Vec<Client>, RegistryError> {
    store
        .list_clients()
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Applies `patch` to the client as stored inside one unit of work (its row
/// locked), after validating the result as a whole, so a concurrent edit or
/// secret rotation is never written back over. A change of what
/// the client may do (grants, scope, kind, authentication, introspection)
/// records `now` as its credentials-changed time, which ends the admin power of
/// every token it was issued before.
pub async fn update(
    store: &Store,
    now: UnixTime,
    id: &str,
    patch: ClientPatch,
) -> Result<Client, RegistryError> {
    patch.check_fields()?;
    let mut tx = store.begin().await?;
    let current = from_row(tx.client_for_update(id).await?)?;
    let valid = current
        .spec()
        .patched(patch)
        .validate()
        .map_err(RegistryError::Conflicts)?;
    if valid.kind == ClientKind::Confidential && current.secret_hash.is_none() {
        return Err(RegistryError::NoSecret);
    }
    let permissions_changed = valid.kind != current.kind
        || valid.grant_types != current.grant_types
        || valid.scope != current.scope
        || valid.auth_method != current.auth_method
        || valid.introspect_any != current.introspect_any;
    let credentials_changed_at = if permissions_changed {
        Some(now)
    } else {
        current.credentials_changed_at
    };
    let client = build(
        current.id,
        valid,
        current.secret_hash,
        credentials_changed_at,
        current.created_at,
        now,
    );
    tx.update_client(&to_row(&client)?).await?;
    tx.commit().await?;
    tracing::info!(client_id = %client.id, "client updated");
    Ok(client)
}

/// Removes a client and ends everything issued to it, in one unit of work: its
/// grants (their access tokens stop passing at once), their refresh tokens, and
/// the consents people gave it. The admin API and the CLI both delete here.
pub async fn delete(store: &Store, id: &str) -> Result<(), RegistryError> {
    let mut tx = store.begin().await?;
    tx.delete_client(id).await?;
    tx.commit().await?;
    tracing::info!(client_id = %id, "client deleted");
    Ok(())
}

/// Replaces a confidential client's secret inside one unit of work (its row
/// locked, so a concurrent edit cannot write the old hash back); the old one stops working at once,
/// and so does the admin power of every token issued before (see [`update`]).
pub async fn rotate_secret(
    store: &Store,
    now: UnixTime,
    id: &str,
) -> Result<String, RegistryError> {
    let secret = new_secret()?;
    let mut tx = store.begin().await?;
    let mut client = from_row(tx.client_for_update(id).await?)?;
    if client.kind != ClientKind::Confidential {
        return Err(RegistryError::NoSecret);
    }
    client.secret_hash = Some(hash_secret(&secret));
    client.credentials_changed_at = Some(now);
    client.updated_at = now;
    tx.update_client(&to_row(&client)?).await?;
    tx.commit().await?;
    tracing::info!(client_id = %id, "client secret rotated");
    Ok(secret)
}

fn build(
    id: String,
    v: ValidSpec,
    secret_hash: Option<Vec<u8>>,
    credentials_changed_at: Option<UnixTime>,
    created_at: UnixTime,
    updated_at: UnixTime,
) -> Client {
    Client {
        id,
        name: v.name,
        kind: v.kind,
        secret_hash,
        redirect_uris: v.redirect_uris,
        post_logout_redirect_uris: v.post_logout_redirect_uris,
        grant_types: v.grant_types,
        scope: v.scope,
        auth_method: v.auth_method,
        first_party: v.first_party,
        introspect_any: v.introspect_any,
        require_mfa: v.require_mfa,
        credentials_changed_at,
        created_at,
        updated_at,
    }
}

fn to_row(c: &Client) -> Result<ClientRow, RegistryError> {
    fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
        serde_json::to_string(value).map_err(|_| StoreError::Corrupt("clients"))
    }
    Ok(ClientRow {
        id: c.id.clone(),
        name: c.name.clone(),
        kind: c.kind.as_str().to_owned(),
        secret_hash: c.secret_hash.clone(),
        redirect_uris: json(&c.redirect_uris)?,
        post_logout_redirect_uris: json(&c.post_logout_redirect_uris)?,
        grant_types: json(&c.grant_types)?,
        scopes: json(c.scope.tokens())?,
        token_endpoint_auth_method: c.auth_method.as_str().to_owned(),
        first_party: i64::from(c.first_party),
        introspect_any: i64::from(c.introspect_any),
        require_mfa: i64::from(c.require_mfa),
        credentials_changed_at: c.credentials_changed_at,
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

fn from_row(r: ClientRow) -> Result<Client, RegistryError> {
    fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
        serde_json::from_str(text).map_err(|_| StoreError::Corrupt("clients"))
    }
    let corrupt = |_| StoreError::Corrupt("clients");
    let scopes: Vec<String> = parse(&r.scopes)?;
    let grant_types: Vec<GrantType> = parse(&r.grant_types)?;
    Ok(Client {
        kind: r.kind.parse::<ClientKind>().map_err(corrupt)?,
        auth_method: r
            .token_endpoint_auth_method
            .parse::<AuthMethod>()
            .map_err(corrupt)?,
        scope: Scope::from_tokens(scopes.iter().map(String::as_str))
            .map_err(|_| StoreError::Corrupt("clients"))?,
        redirect_uris: parse(&r.redirect_uris)?,
        post_logout_redirect_uris: parse(&r.post_logout_redirect_uris)?,
        grant_types,
        id: r.id,
        name: r.name,
        secret_hash: r.secret_hash,
        first_party: r.first_party != 0,
        introspect_any: r.introspect_any != 0,
        require_mfa: r.require_mfa != 0,
        credentials_changed_at: r.credentials_changed_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}
