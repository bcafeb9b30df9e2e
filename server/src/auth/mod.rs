//! Authentication: password hashing, sign-in throttling, API token secrets.

pub mod password;
pub mod throttle;
pub mod token;
