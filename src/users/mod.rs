//! People who sign in: the stored [`User`], the rules an email address, a
//! password and a display name must follow, and the operations the admin API
//! and the CLI share. A user's `id` is the stable OIDC subject; the email can
//! change, the id never does.

mod apps;
mod claims;
mod model;
mod registry;
mod validate;

pub use apps::{AppAccess, apps_of, remove_access};
pub use claims::{Address, AddressPatch, Claims, ClaimsPatch};
pub use model::{NewUser, User, UserPatch, UserView};
pub use registry::{
    Actor, FoundUser, UserError, change_own_password, create, delete, disable, enable, find,
    find_by_email, hash_password, is_active, list, notify_password_change, remove_own_password,
    set_password_in, sign_out_everywhere, update, update_profile, upgrade_password_hash,
};
pub use validate::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, password as check_new_password};
