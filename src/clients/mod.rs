//! The client registry: what a registered application is allowed to do, how it
//! is validated, and the operations the admin API and the CLI share.

mod cache;
mod model;
mod redirect;
mod registry;
mod validate;

pub use cache::{CLIENT_CACHE_SECS, ClientCache};
pub use model::{AuthMethod, Client, ClientKind, ClientPatch, ClientSpec, ClientView, GrantType};
pub use redirect::MAX_REDIRECT_URI_BYTES;
pub use registry::{
    Registered, RegistryError, delete, find, list, register, rotate_secret, update,
};
pub use validate::{
    MAX_CLIENT_NAME_CHARS, MAX_REDIRECT_URIS, MAX_SCOPE_BYTES, ValidationError, spec_rules_schema,
};
