//! API token secrets: `dpe_` and 32 random bytes, base64url.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "dpe_";

/// A new secret and the hash to store.
pub fn generate() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = digest(&secret);
    (secret, hash)
}

/// A new unprefixed secret (the gateway's tickets and sessions) and the
/// hash to store.
pub fn generate_unprefixed() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let hash = digest(&secret);
    (secret, hash)
}

pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_hash_stably() {
        let (a, ha) = generate();
        let (b, _) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with("dpe_") && a.len() == 4 + 43, "{a}");
        assert_eq!(digest(&a), ha);
    }
}
