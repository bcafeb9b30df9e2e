//! Authentication: password hashing, sign-in throttling, API token secrets,
//! second factors (TOTP codes, recovery codes).

pub mod directory;
pub mod password;
pub mod recovery;
pub mod secret_box;
pub mod setup_code;
pub mod throttle;
pub mod token;
pub mod totp;

/// What a signed-in session holds: the account...
pub const SESSION_USER: &str = "user_id";
/// ...and when it signed in (Unix seconds): a session ends
/// `session_max_hours` after that, however busy it stays.
pub const SESSION_SIGNED_IN_AT: &str = "signed_in_at";
/// A session whose password was right and that waits for the second
/// factor holds the account here, not under [`SESSION_USER`]: it is not
/// signed in...
pub const SESSION_PENDING_USER: &str = "pending_user_id";
/// ...since then (Unix seconds), for a few minutes.
pub const SESSION_PENDING_AT: &str = "pending_at";
/// Set (true) when the waiting account must enrol a second factor first.
pub const SESSION_MUST_ENROL: &str = "must_enrol";
/// When the session last proved a second factor (Unix seconds).
pub const SESSION_SECOND_FACTOR_AT: &str = "second_factor_at";
