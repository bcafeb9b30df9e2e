//! Authentication: password hashing, sign-in throttling, API token secrets.

pub mod directory;
pub mod password;
pub mod throttle;
pub mod token;
