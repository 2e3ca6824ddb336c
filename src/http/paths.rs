//! Every endpoint path, in one place, so routes and the discovery document
//! cannot drift apart.

/// OpenID Connect Discovery 1.0 §4.
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// RFC 8414 authorization server metadata (same document).
pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
/// The public signing keys (RFC 7517).
pub const JWKS: &str = "/jwks";
/// RFC 6749 §3.1.
pub const AUTHORIZE: &str = "/authorize";
/// Where the sign-in and consent pages send the browser back to the
/// authorization endpoint (`?interaction=…`).
pub const AUTHORIZE_RESUME: &str = "/authorize/resume";
/// The account area: the person's own overview page.
pub const ACCOUNT: &str = "/account";
/// Where the sign-in page sends the browser back to the account area.
pub const ACCOUNT_RESUME: &str = "/account/resume";
/// Changing one's password.
pub const ACCOUNT_PASSWORD: &str = "/account/password";
/// One's sessions and devices.
pub const ACCOUNT_SESSIONS: &str = "/account/sessions";
/// The apps with access to one's account.
pub const ACCOUNT_APPS: &str = "/account/apps";
/// Editing one's name and other claims.
pub const ACCOUNT_PROFILE: &str = "/account/profile";
/// One's recent security events.
pub const ACCOUNT_ACTIVITY: &str = "/account/activity";
/// The account's sign-in methods (second factors).
pub const ACCOUNT_SECURITY: &str = "/account/security";
/// RFC 6749 §3.2.
pub const TOKEN: &str = "/token";
/// OIDC Core §5.3.
pub const USERINFO: &str = "/userinfo";
/// OpenID Connect RP-Initiated Logout 1.0.
pub const END_SESSION: &str = "/logout";
/// RFC 7662.
pub const INTROSPECT: &str = "/introspect";
/// RFC 7009.
pub const REVOKE: &str = "/revoke";
/// Liveness: the process answers.
pub const HEALTHZ: &str = "/healthz";
/// Readiness: the database answers.
pub const READYZ: &str = "/readyz";
/// The admin API's OpenAPI document.
pub const ADMIN_OPENAPI: &str = "/admin/openapi.json";
