//! Recovery codes: ten single-use codes that stand in for the
//! authenticator app once, shown when made and then kept only as hashes.
//!
//! They are hashed with SHA-256, as API tokens are, not with Argon2 as
//! passwords are: a slow hash protects secrets people choose, which are
//! few enough to guess; these are 80 random bits each, beyond any guessing
//! from a copy of the store, and a fast hash lets one indexed look-up find
//! the code instead of ten Argon2 runs (about a second) per try.

use rand::RngCore as _;

use super::token;

/// Codes made at a time.
pub const COUNT: usize = 10;
/// Digits and capitals without the look-alikes 0/O and 1/I: 32 symbols.
const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Characters per code: 16 of 32 symbols, 80 bits.
const LENGTH: usize = 16;

/// Ten new codes and the hashes to store.
pub fn generate() -> Vec<(String, Vec<u8>)> {
    (0..COUNT)
        .map(|_| {
            let mut bytes = [0u8; LENGTH];
            rand::rng().fill_bytes(&mut bytes);
            let plain: String = bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect();
            let code = format!(
                "{}-{}-{}-{}",
                &plain[..4],
                &plain[4..8],
                &plain[8..12],
                &plain[12..]
            );
            let hash = digest(&code).unwrap_or_default();
            (code, hash)
        })
        .collect()
}

/// The hash of a code as typed (dashes, spaces and case ignored), or
/// `None` when it cannot be a recovery code.
pub fn digest(typed: &str) -> Option<Vec<u8>> {
    let plain: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let well_formed = plain.len() == LENGTH && plain.bytes().all(|b| ALPHABET.contains(&b));
    well_formed.then(|| token::digest(&format!("recovery:{plain}")))
}

/// Whether `typed` has a recovery code's shape (rather than a TOTP code's).
pub fn looks_like(typed: &str) -> bool {
    digest(typed).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_hash_as_typed_with_or_without_dashes() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let mut seen: Vec<_> = codes.iter().map(|(c, _)| c.clone()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), COUNT);
        for (code, hash) in &codes {
            assert_eq!(code.len(), LENGTH + 3, "{code}");
            assert_eq!(digest(code).as_ref(), Some(hash));
            assert_eq!(digest(&code.replace('-', "")).as_ref(), Some(hash));
            assert_eq!(digest(&code.to_lowercase()).as_ref(), Some(hash));
            assert!(looks_like(code));
        }
        assert!(!looks_like("123456"), "a TOTP code is no recovery code");
    }
}
