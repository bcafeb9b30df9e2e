//! Authentication: password hashing, sign-in throttling, API token secrets.

pub mod directory;
pub mod password;
pub mod secret_box;
pub mod setup_code;
pub mod throttle;
pub mod token;

/// What a signed-in session holds: the account...
pub const SESSION_USER: &str = "user_id";
/// ...and when it signed in (Unix seconds): a session ends
/// `session_max_hours` after that, however busy it stays.
pub const SESSION_SIGNED_IN_AT: &str = "signed_in_at";
