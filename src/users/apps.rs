//! The apps a person has given access to: what they consented to and the
//! grants they hold, per app, and removing an app's access in one unit of work.

use std::collections::BTreeMap;

use super::registry::UserError;
use crate::clock::UnixTime;
use crate::store::{AuditEvent, GrantFilter, Store, StoreError};

/// One app with access to the person's account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppAccess {
    /// The app's client id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// What it may do, as scope tokens (what was consented and granted).
    pub scope: Vec<String>,
    /// Since when: the earliest consent or grant still in place.
    pub since: UnixTime,
    /// When a token was last issued to it for the person (sign-in or refresh).
    pub last_used: Option<UnixTime>,
}

/// Every app `user_id` consented to or holds a live grant with, by name.
/// Apps deleted since are left out (their grants no longer work).
pub async fn apps_of(store: &Store, user_id: &str) -> Result<Vec<AppAccess>, UserError> {
    let mut apps: BTreeMap<String, AppAccess> = BTreeMap::new();
    let mut note = |client_id: &str, scope: &str, at: UnixTime, used: Option<UnixTime>| {
        let app = apps
            .entry(client_id.to_owned())
            .or_insert_with(|| AppAccess {
                client_id: client_id.to_owned(),
                name: String::new(),
                scope: Vec::new(),
                since: at,
                last_used: None,
            });
        for token in scope.split_whitespace() {
            if !app.scope.iter().any(|t| t == token) {
                app.scope.push(token.to_owned());
            }
        }
        app.since = app.since.min(at);
        app.last_used = app.last_used.max(used);
    };
    for consent in store.consents_of(user_id).await? {
        note(&consent.client_id, &consent.scope, consent.updated_at, None);
    }
    for grant in store.live_grants_of(user_id).await? {
        let used = grant.last_refreshed_at.unwrap_or(grant.created_at);
        note(&grant.client_id, &grant.scope, grant.created_at, Some(used));
    }
    let mut found = Vec::with_capacity(apps.len());
    for (client_id, mut app) in apps {
        match store.get_client(&client_id).await {
            Ok(client) => {
                app.name = client.name;
                found.push(app);
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name).then(a.client_id.cmp(&b.client_id)));
    Ok(found)
}

/// Removes `client_id`'s access to `user_id`'s account: revokes every grant
/// of the person for the app (refresh tokens, and the access tokens issued
/// with them) — and any code not yet redeemed, by counting the removal, which
/// a code records when issued and redemption compares — and forgets the
/// consent, so the next sign-in to it asks again —
/// with an audit event naming `from` (where the person did it), all in one
/// unit of work. Returns how many grants ended; removing an app that had no
/// access changes nothing and records nothing.
pub async fn remove_access(
    store: &Store,
    now: UnixTime,
    user_id: &str,
    client_id: &str,
    from: &str,
) -> Result<usize, UserError> {
    // Only an app listed as having access is removed, so posting ids of apps
    // one never used writes nothing.
    if !apps_of(store, user_id)
        .await?
        .iter()
        .any(|app| app.client_id == client_id)
    {
        return Ok(0);
    }
    // The count first, committed on its own: a code redeemed meanwhile either
    // sees the new count (its check after its commit), or committed its grant
    // before the revocation below, which then ends it. (The other order lets
    // a redemption commit between the revocation and the count on PostgreSQL.)
    let mut counted = store.begin().await?;
    counted.count_app_access_removal(user_id, client_id).await?;
    counted.commit().await?;
    let mut tx = store.begin().await?;
    let revoked = tx
        .revoke_grants(GrantFilter::UserClient(user_id, client_id), now, None)
        .await?;
    let forgotten = tx.forget_consent(user_id, client_id).await?;
    let consent = if forgotten { "; consent forgotten" } else { "" };
    let detail = format!("access removed by the person {from}; {revoked} grants revoked{consent}");
    let event = AuditEvent {
        kind: "app_access_removed",
        user_id: Some(user_id),
        client_id: Some(client_id),
        detail: &detail,
    };
    tx.record_audit(&event, now).await?;
    tx.commit().await?;
    tracing::info!(%user_id, %client_id, revoked, "app access removed");
    Ok(revoked)
}
