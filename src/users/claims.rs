//! The OpenID Connect standard claims a person has beyond `name` and
//! `preferred_username` (OIDC Core §5.1): what is stored, the patch that
//! changes it (admin API, CLI, account page), and the rules each value
//! follows. The OpenAPI patterns below state exactly the rules the checks
//! enforce, so the document and the server never disagree.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::registry::UserError;
use super::validate;

/// Longest URL accepted for `picture` and `website`.
const MAX_URL_CHARS: usize = 2048;
/// Longest `locale` (a BCP 47 tag).
const MAX_LOCALE_CHARS: usize = 35;
/// Longest `zoneinfo` (an IANA time zone name).
const MAX_ZONE_CHARS: usize = 64;

/// A person's standard claims besides name and preferred username; absent
/// ones are not set. Stored as one JSON object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Claims {
    /// Given (first) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family (last) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// URL of a profile picture (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// URL of the person's web page or blog (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Preferred language, a BCP 47 tag such as `en-GB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Time zone, an IANA name such as `Europe/Paris`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoneinfo: Option<String>,
    /// Phone number in E.164 form, such as `+14155550123`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Whether the phone number is known to be the person's.
    #[serde(default)]
    pub phone_number_verified: bool,
    /// Postal address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

/// A postal address (OIDC Core §5.1.1); absent parts are not set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    /// The full address as it would be written on a letter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// Street, house number, apartment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    /// City or locality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// State, province or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal or ZIP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Address {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A change to [`Claims`]: an absent field stays, an empty string clears it.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimsPatch {
    /// Given name, up to 200 printable characters, trimmed.
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub given_name: Option<String>,
    /// Family name, up to 200 printable characters, trimmed.
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub family_name: Option<String>,
    /// Picture URL: `http://` or `https://` and no spaces or control characters.
    #[schema(
        max_length = 2048,
        pattern = "^(https?://[^\\u0000-\\u0020\\u007f]+)?$"
    )]
    pub picture: Option<String>,
    /// Website URL: `http://` or `https://` and no spaces or control characters.
    #[schema(
        max_length = 2048,
        pattern = "^(https?://[^\\u0000-\\u0020\\u007f]+)?$"
    )]
    pub website: Option<String>,
    /// BCP 47 language tag: letters, then `-` and letters or digits.
    #[schema(max_length = 35, pattern = "^([A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*)?$")]
    pub locale: Option<String>,
    /// IANA time zone name, such as `America/New_York`.
    #[schema(
        max_length = 64,
        pattern = "^([A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*)?$"
    )]
    pub zoneinfo: Option<String>,
    /// Phone number in E.164 form: `+`, then 7 to 15 digits, the first not 0.
    #[schema(pattern = "^(\\+[1-9][0-9]{6,14})?$")]
    pub phone_number: Option<String>,
    /// Whether the phone number is verified; a new number is unverified
    /// unless this is sent too.
    pub phone_number_verified: Option<bool>,
    /// Postal address parts.
    pub address: Option<AddressPatch>,
}

/// A change to an [`Address`]: an absent part stays, an empty string clears it.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPatch {
    /// Up to 200 printable characters, trimmed.
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub formatted: Option<String>,
    /// Up to 200 printable characters, trimmed.
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub street_address: Option<String>,
    /// Up to 200 printable characters, trimmed.
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub locality: Option<String>,
    /// Up to 200 printable characters, trimmed.
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub region: Option<String>,
    /// Up to 200 printable characters, trimmed.
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub postal_code: Option<String>,
    /// Up to 200 printable characters, trimmed.
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub country: Option<String>,
}

/// A patch whose values passed the rules: `Some(None)` clears a field.
#[derive(Clone, Debug, Default)]
pub(super) struct CheckedClaims {
    given_name: Option<Option<String>>,
    family_name: Option<Option<String>>,
    picture: Option<Option<String>>,
    website: Option<Option<String>>,
    locale: Option<Option<String>>,
    zoneinfo: Option<Option<String>>,
    phone_number: Option<Option<String>>,
    phone_number_verified: Option<bool>,
    address: [Option<Option<String>>; 6],
}

impl ClaimsPatch {
    /// Checks every value against its rule.
    pub(super) fn checked(self) -> Result<CheckedClaims, UserError> {
        let text = |field, value: Option<String>| {
            value.map(|v| validate::text(field, Some(v))).transpose()
        };
        let address = self.address.unwrap_or_default();
        Ok(CheckedClaims {
            given_name: text("given_name", self.given_name)?,
            family_name: text("family_name", self.family_name)?,
            picture: self.picture.map(|v| url("picture", v)).transpose()?,
            website: self.website.map(|v| url("website", v)).transpose()?,
            locale: self.locale.map(locale).transpose()?,
            zoneinfo: self.zoneinfo.map(zoneinfo).transpose()?,
            phone_number: self.phone_number.map(phone_number).transpose()?,
            phone_number_verified: self.phone_number_verified,
            address: [
                text("address.formatted", address.formatted)?,
                text("address.street_address", address.street_address)?,
                text("address.locality", address.locality)?,
                text("address.region", address.region)?,
                text("address.postal_code", address.postal_code)?,
                text("address.country", address.country)?,
            ],
        })
    }
}

impl CheckedClaims {
    /// Writes the change into `claims`. A new phone number is unverified
    /// unless the patch says otherwise.
    pub(super) fn apply_to(self, claims: &mut Claims) {
        let set = |field: &mut Option<String>, value: Option<Option<String>>| {
            if let Some(value) = value {
                *field = value;
            }
        };
        set(&mut claims.given_name, self.given_name);
        set(&mut claims.family_name, self.family_name);
        set(&mut claims.picture, self.picture);
        set(&mut claims.website, self.website);
        set(&mut claims.locale, self.locale);
        set(&mut claims.zoneinfo, self.zoneinfo);
        if let Some(number) = self.phone_number
            && number != claims.phone_number
        {
            claims.phone_number = number;
            claims.phone_number_verified = false;
        }
        if let Some(verified) = self.phone_number_verified {
            claims.phone_number_verified = verified;
        }
        let mut address = claims.address.take().unwrap_or_default();
        let [formatted, street, locality, region, postal_code, country] = self.address;
        set(&mut address.formatted, formatted);
        set(&mut address.street_address, street);
        set(&mut address.locality, locality);
        set(&mut address.region, region);
        set(&mut address.postal_code, postal_code);
        set(&mut address.country, country);
        claims.address = (!address.is_empty()).then_some(address);
        if claims.phone_number.is_none() {
            claims.phone_number_verified = false;
        }
    }
}

fn invalid(field: &'static str, message: &str) -> UserError {
    UserError::Invalid {
        field,
        message: message.to_owned(),
    }
}

/// An http(s) URL without spaces or control characters; empty clears.
fn url(field: &'static str, value: String) -> Result<Option<String>, UserError> {
    if value.is_empty() {
        return Ok(None);
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && value.chars().count() <= MAX_URL_CHARS
                && rest.chars().all(|c| c > ' ' && c != '\u{7f}') =>
        {
            Ok(Some(value))
        }
        _ => Err(invalid(
            field,
            "must be an http:// or https:// address of at most 2048 characters, without spaces",
        )),
    }
}

/// A BCP 47-shaped tag: 2–8 letters, then `-` and 1–8 letters or digits.
fn locale(value: String) -> Result<Option<String>, UserError> {
    if value.is_empty() {
        return Ok(None);
    }
    let mut parts = value.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if first_ok && rest_ok && value.len() <= MAX_LOCALE_CHARS {
        Ok(Some(value))
    } else {
        Err(invalid("locale", "must be a language tag such as en-GB"))
    }
}

/// An IANA-shaped zone name: a letter first, then letters, digits, `_+-`,
/// and `/` between non-empty parts.
fn zoneinfo(value: String) -> Result<Option<String>, UserError> {
    if value.is_empty() {
        return Ok(None);
    }
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-'))
    };
    let ok = value.len() <= MAX_ZONE_CHARS
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && value.split('/').all(part_ok);
    if ok {
        Ok(Some(value))
    } else {
        Err(invalid(
            "zoneinfo",
            "must be a time zone such as Europe/Paris",
        ))
    }
}

/// An E.164 number: `+`, then 7 to 15 digits, the first not 0.
fn phone_number(value: String) -> Result<Option<String>, UserError> {
    if value.is_empty() {
        return Ok(None);
    }
    let ok = value.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0')
    });
    if ok {
        Ok(Some(value))
    } else {
        Err(invalid(
            "phone_number",
            "must be in international form, such as +14155550123",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_their_rules() {
        assert!(url("picture", "https://example.com/a.png".into()).is_ok());
        assert!(url("picture", "javascript:alert(1)".into()).is_err());
        assert!(url("picture", "https://".into()).is_err());
        assert!(url("picture", "https://a b".into()).is_err());
        assert_eq!(url("picture", String::new()).unwrap(), None);
        assert!(locale("en-GB".into()).is_ok());
        assert!(locale("e".into()).is_err());
        assert!(locale("en--GB".into()).is_err());
        assert!(zoneinfo("America/Argentina/Buenos_Aires".into()).is_ok());
        assert!(zoneinfo("Etc/GMT+5".into()).is_ok());
        assert!(zoneinfo("/Paris".into()).is_err());
        assert!(zoneinfo("Europe//Paris".into()).is_err());
        assert!(phone_number("+14155550123".into()).is_ok());
        assert!(phone_number("+0123456789".into()).is_err());
        assert!(phone_number("4155550123".into()).is_err());
    }

    #[test]
    fn a_patch_sets_clears_and_unverifies_a_new_number() {
        let mut claims = Claims {
            phone_number: Some("+14155550123".into()),
            phone_number_verified: true,
            ..Claims::default()
        };
        let patch = ClaimsPatch {
            given_name: Some(" Ada ".into()),
            phone_number: Some("+442071838750".into()),
            address: Some(AddressPatch {
                locality: Some("London".into()),
                ..AddressPatch::default()
            }),
            ..ClaimsPatch::default()
        };
        patch.checked().unwrap().apply_to(&mut claims);
        assert_eq!(claims.given_name.as_deref(), Some("Ada"));
        assert!(!claims.phone_number_verified);
        assert_eq!(
            claims.address.as_ref().unwrap().locality.as_deref(),
            Some("London")
        );
        let clear = ClaimsPatch {
            address: Some(AddressPatch {
                locality: Some(String::new()),
                ..AddressPatch::default()
            }),
            ..ClaimsPatch::default()
        };
        clear.checked().unwrap().apply_to(&mut claims);
        assert_eq!(claims.address, None);
    }
}
