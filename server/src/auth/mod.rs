//! Authentication: password hashing, sign-in throttling, API token secrets.

pub mod directory;
pub mod password;
pub mod setup_code;
pub mod throttle;
pub mod token;
