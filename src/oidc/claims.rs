//! Which of a person's claims a client receives (OpenID Connect Core §5.4):
//! `profile` releases the name and profile claims, `email` the address and
//! whether it is verified, `address` the postal address, `phone` the number
//! and whether it is verified. Only claims the person has are released.

use serde_json::{Map, Value, json};

use crate::oauth::scope::Scope;
use crate::users::User;

/// The claims of `user` that `scope` releases, besides `sub`.
pub fn released(user: &User, scope: &Scope) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            out.insert(name.to_owned(), value);
        }
    };
    let text = |value: &Option<String>| value.as_ref().map(|v| json!(v));
    let claims = &user.claims;
    if scope.contains("profile") {
        put("name", text(&user.name));
        put("given_name", text(&claims.given_name));
        put("family_name", text(&claims.family_name));
        put("preferred_username", text(&user.preferred_username));
        put("picture", text(&claims.picture));
        put("website", text(&claims.website));
        put("zoneinfo", text(&claims.zoneinfo));
        put("locale", text(&claims.locale));
        put("updated_at", Some(json!(user.updated_at)));
    }
    if scope.contains("email") {
        put("email", Some(json!(user.email)));
        put("email_verified", Some(json!(user.email_verified)));
    }
    if scope.contains("address") {
        put("address", claims.address.as_ref().map(|a| json!(a)));
    }
    if scope.contains("phone") && claims.phone_number.is_some() {
        put("phone_number", text(&claims.phone_number));
        put(
            "phone_number_verified",
            Some(json!(claims.phone_number_verified)),
        );
    }
    out
}
