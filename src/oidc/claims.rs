//! Which of a person's claims a client receives (OpenID Connect Core §5.4,
//! §5.5): `profile` releases the name and profile claims, `email` the address
//! and whether it is verified, `address` the postal address, `phone` the
//! number and whether it is verified; the `claims` request parameter asks
//! for individual claims in the ID token or at userinfo. Only claims the
//! person has are released.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::oauth::scope::Scope;
use crate::oidc::acr;
use crate::users::User;

/// The claims each scope releases.
const BY_SCOPE: [(&str, &[&str]); 4] = [
    (
        "profile",
        &[
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "picture",
            "website",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// The scope that releases `claim`, if any scope does.
fn scope_of(claim: &str) -> Option<&'static str> {
    BY_SCOPE
        .iter()
        .find(|(_, claims)| claims.contains(&claim))
        .map(|(scope, _)| *scope)
}

/// The value of `user`'s claim `name`, if they have it.
fn value(user: &User, name: &str) -> Option<Value> {
    let claims = &user.claims;
    let text = |value: &Option<String>| value.as_ref().map(|v| json!(v));
    match name {
        "name" => text(&user.name),
        "given_name" => text(&claims.given_name),
        "family_name" => text(&claims.family_name),
        "preferred_username" => text(&user.preferred_username),
        "picture" => text(&claims.picture),
        "website" => text(&claims.website),
        "zoneinfo" => text(&claims.zoneinfo),
        "locale" => text(&claims.locale),
        "updated_at" => Some(json!(user.updated_at)),
        "email" => Some(json!(user.email)),
        "email_verified" => Some(json!(user.email_verified)),
        "address" => claims.address.as_ref().map(|a| json!(a)),
        "phone_number" => text(&claims.phone_number),
        "phone_number_verified" => claims
            .phone_number
            .as_ref()
            .map(|_| json!(claims.phone_number_verified)),
        _ => None,
    }
}

/// The claims of `user` that `scope` releases, and those of `asked` (named
/// with the `claims` parameter), besides `sub`.
pub fn released(user: &User, scope: &Scope, asked: &[String]) -> Map<String, Value> {
    let by_scope = BY_SCOPE
        .iter()
        .filter(|(scope_name, _)| scope.contains(scope_name))
        .flat_map(|(_, claims)| claims.iter().copied());
    by_scope
        .chain(asked.iter().map(String::as_str))
        .filter_map(|name| Some((name.to_owned(), value(user, name)?)))
        .collect()
}

/// The individual claims a client asked for with the `claims` parameter,
/// by where it wants them; only claims Gatehouse can release are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    /// Claims asked for at the userinfo endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
    /// Claims asked for in the ID token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    /// The `sub` the ID token must have (`"sub": {"value": …}`, §5.5.1):
    /// only that person may be signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The values of an essential `acr` in the ID token (§5.5.1.1): the
    /// sign-in must meet the weakest of them Gatehouse defines, and the
    /// `acr` reported must be one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr: Vec<String>,
}

/// Why a `claims` parameter is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimsRefusal {
    /// Not a JSON object of the shape §5.5 defines (`invalid_request`).
    Malformed(&'static str),
    /// `acr` is essential with values of which Gatehouse offers none: the
    /// authentication cannot meet it (§5.5.1.1), so it fails (`access_denied`).
    AcrUnmet,
}

impl ClaimsRequest {
    /// Parses the `claims` parameter (§5.5): an object with optional
    /// `userinfo` and `id_token` members, each mapping claim names to `null`
    /// or an object with optional `essential` (boolean), `value` and
    /// `values` (an array). Unknown members and claims are ignored.
    pub fn parse(text: &str) -> Result<Self, ClaimsRefusal> {
        let malformed = ClaimsRefusal::Malformed;
        let value: Value = serde_json::from_str(text)
            .map_err(|_| malformed("the claims parameter is not JSON"))?;
        let object = value
            .as_object()
            .ok_or(malformed("the claims parameter must be a JSON object"))?;
        let sub = match object
            .get("id_token")
            .and_then(|member| member.get("sub"))
            .and_then(|sub| sub.get("value"))
        {
            None => None,
            Some(Value::String(sub)) => Some(sub.clone()),
            Some(_) => return Err(malformed("the sub value must be a string")),
        };
        let acr = object
            .get("id_token")
            .and_then(|member| member.get("acr"))
            .filter(|ask| ask.get("essential") == Some(&Value::Bool(true)))
            .map(|ask| {
                let one = ask.get("value").and_then(Value::as_str);
                let many = ask.get("values").and_then(Value::as_array);
                one.into_iter()
                    .chain(many.into_iter().flatten().filter_map(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            userinfo: requested(object.get("userinfo"))?,
            id_token: requested(object.get("id_token"))?,
            sub,
            acr,
        })
    }

    /// Only the claims whose scope `may_ask` allows: a client never receives
    /// through this parameter what its registration does not let it ask for
    /// by scope. Applied when the request arrives and at every token minted.
    pub fn within(&self, may_ask: impl Fn(&str) -> bool) -> Self {
        let keep = |names: &[String]| {
            names
                .iter()
                .filter(|name| scope_of(name).is_some_and(&may_ask))
                .cloned()
                .collect()
        };
        Self {
            userinfo: keep(&self.userinfo),
            id_token: keep(&self.id_token),
            sub: self.sub.clone(),
            acr: self.acr.clone(),
        }
    }

    /// The scopes whose claims this asks for: what the person consents to
    /// when the app asks for them this way.
    pub fn scopes(&self) -> Vec<&'static str> {
        let mut scopes: Vec<&'static str> = Vec::new();
        for claim in self.userinfo.iter().chain(&self.id_token) {
            if let Some(scope) = scope_of(claim)
                && !scopes.contains(&scope)
            {
                scopes.push(scope);
            }
        }
        scopes
    }
}

/// The releasable claim names one member of the `claims` parameter asks for.
fn requested(member: Option<&Value>) -> Result<Vec<String>, ClaimsRefusal> {
    let malformed = ClaimsRefusal::Malformed;
    let Some(member) = member.filter(|m| !m.is_null()) else {
        return Ok(Vec::new());
    };
    let entries = member
        .as_object()
        .ok_or(malformed("userinfo and id_token must be JSON objects"))?;
    let mut names = Vec::new();
    for (name, ask) in entries {
        let ask = match ask {
            Value::Null => None,
            Value::Object(ask) => Some(ask),
            _ => return Err(malformed("each requested claim must be null or an object")),
        };
        let essential = match ask.and_then(|a| a.get("essential")) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(essential)) => *essential,
            Some(_) => return Err(malformed("essential must be true or false")),
        };
        let mut wanted: Vec<&Value> = Vec::new();
        if let Some(value) = ask.and_then(|a| a.get("value")) {
            wanted.push(value);
        }
        match ask.and_then(|a| a.get("values")) {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => wanted.extend(values),
            Some(_) => return Err(malformed("values must be an array")),
        }
        let known = acr::required_by(wanted.iter().filter_map(|value| value.as_str()));
        if name == "acr" && essential && !wanted.is_empty() && known.is_none() {
            return Err(ClaimsRefusal::AcrUnmet);
        }
        if scope_of(name).is_some() && !names.contains(name) {
            names.push(name.clone());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claims_parameter_keeps_releasable_names_by_place() {
        let asked = ClaimsRequest::parse(
            r#"{"userinfo":{"name":{"essential":true},"phone_number":null,"nonsense":null},
                "id_token":{"email":{"essential":false},"acr":{"values":["1","2"]}},"other":1}"#,
        )
        .unwrap();
        assert_eq!(asked.userinfo, ["name", "phone_number"]);
        assert_eq!(asked.id_token, ["email"]);
        assert_eq!(asked.scopes(), ["profile", "phone", "email"]);
    }

    #[test]
    fn malformed_requests_and_unmet_essential_acr_are_refused() {
        for bad in [
            "not json",
            "[]",
            r#"{"userinfo":[]}"#,
            r#"{"id_token":{"name":true}}"#,
            r#"{"id_token":{"name":{"essential":"yes"}}}"#,
            r#"{"id_token":{"name":{"values":"x"}}}"#,
        ] {
            assert!(
                matches!(ClaimsRequest::parse(bad), Err(ClaimsRefusal::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(
            ClaimsRequest::parse(r#"{"id_token":{"acr":{"essential":true,"values":["urn:mfa"]}}}"#),
            Err(ClaimsRefusal::AcrUnmet)
        );
        assert!(
            ClaimsRequest::parse(
                r#"{"id_token":{"acr":{"essential":true,"value":"urn:gatehouse:acr:1fa"}}}"#
            )
            .is_ok()
        );
        assert!(ClaimsRequest::parse(r#"{"id_token":{"acr":{"values":["urn:mfa"]}}}"#).is_ok());
    }
}
