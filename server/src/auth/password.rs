//! argon2id password hashes with the OWASP parameters (m = 19 MiB, t = 2,
//! p = 1). Callers run these on the blocking pool: each takes tens of ms.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The lowest zxcvbn score (0-4) accepted for a new password.
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;
pub const MIN_LENGTH: usize = 12;
/// Longer inputs only cost hashing time.
pub const MAX_LENGTH: usize = 1024;

/// argon2's default parameters are OWASP's: m = 19 MiB, t = 2, p = 1.
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

/// A password that could not be hashed: argon2 refuses only parameters,
/// salts or outputs out of its bounds, so this is a bug, not bad input.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(argon2::password_hash::Error);

pub fn hash(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(HashError)
}

/// Checks `password` against `stored`. With no stored hash (unknown user,
/// account without a password) it still spends the time of one
/// verification, so timing does not tell whether an account exists.
pub fn verify(stored: Option<&str>, password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (
            // Should hashing ever fail, the empty hash fails to parse
            // below and the answer is still no.
            DUMMY
                .get_or_init(|| hash("dummy password for timing").unwrap_or_default())
                .as_str(),
            false,
        ),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        tracing::error!("a stored password hash is malformed");
        return false;
    };
    hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        && real
}

/// Says why `password` is too weak, if it is. `context` holds words the
/// password must not lean on (the user name, the appliance name).
pub fn weakness(password: &str, context: &[&str]) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Some(format!("use at least {MIN_LENGTH} characters"));
    }
    if password.len() > MAX_LENGTH {
        return Some(format!("use at most {MAX_LENGTH} bytes"));
    }
    let estimate = zxcvbn::zxcvbn(password, context);
    if estimate.score() < MIN_SCORE {
        let advice = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .unwrap_or_else(|| "it is too easy to guess".to_string());
        return Some(format!("choose a stronger password: {advice}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_the_right_password_only() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(Some(&h), "correct horse battery staple"));
        assert!(!verify(Some(&h), "Correct horse battery staple"));
        assert!(!verify(None, "dummy password for timing"));
        assert!(!verify(Some("not a hash"), "x"));
    }

    #[test]
    fn weak_passwords_are_explained() {
        assert!(weakness("short", &[]).unwrap().contains("12"));
        assert!(weakness("password1234", &[]).is_some());
        assert!(weakness("annannannann", &["ann"]).is_some());
        assert_eq!(weakness("violet-Tractor-91-mango", &["ann"]), None);
    }
}
