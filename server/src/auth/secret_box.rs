//! Secrets that dpe must be able to read back (the directory's bind
//! password) are kept sealed in the store, with a key that lives outside
//! it: a copy of `dpe.sqlite3`, or a backup of it, holds no usable secret.
//!
//! Each sealed value is bound to a *context* (for the bind password: the
//! directory URL and bind DN). A value sealed for one context does not
//! open for another, so a changed directory URL can never be handed the
//! secret that was meant for the old one.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// Marks the format of a sealed value, so that another can follow.
const VERSION: &str = "v1:";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SecretBoxError {
    #[error("cannot read the secret key {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the secret key {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secret key {path} is not {KEY_LEN} bytes of hex")]
    Malformed { path: PathBuf },
}

/// XChaCha20-Poly1305 refused to seal: only a secret of 256 GiB or more.
#[derive(Debug, thiserror::Error)]
#[error("the secret is too large to seal")]
pub struct SealError;

/// Why a sealed value did not open.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value was made with another key or for another context")]
    Mismatch,
}

/// The appliance's sealing key. Cheap to clone.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Arc<XChaCha20Poly1305>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// Reads the key at `path`, making a random one (0600) the first time.
    pub fn load_or_create(path: &Path) -> Result<SecretBox, SecretBoxError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path)?,
            Err(source) => {
                return Err(SecretBoxError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == KEY_LEN)
            .ok_or_else(|| SecretBoxError::Malformed {
                path: path.to_owned(),
            })?;
        Ok(SecretBox::from_key(&bytes))
    }

    fn create(path: &Path) -> Result<String, SecretBoxError> {
        let write_err = |source| SecretBoxError::Write {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(write_err)?;
        }
        let text = hex::encode(XChaCha20Poly1305::generate_key(&mut OsRng));
        // create_new: two processes starting at once never overwrite each
        // other's key; the loser reads the winner's.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut file) => {
                file.write_all(format!("{text}\n").as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(write_err)?;
                Ok(text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => fs::read_to_string(path)
                .map_err(|source| SecretBoxError::Read {
                    path: path.to_owned(),
                    source,
                }),
            Err(e) => Err(write_err(e)),
        }
    }

    fn from_key(bytes: &[u8]) -> SecretBox {
        SecretBox {
            cipher: Arc::new(XChaCha20Poly1305::new(Key::from_slice(bytes))),
        }
    }

    /// Seals `plain` for `context`: `v1:` and base64 of nonce and ciphertext.
    pub fn seal(&self, plain: &str, context: &str) -> Result<String, SealError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            // Encryption fails only for messages of 256 GiB and more.
            .map_err(|_| SealError)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", BASE64.encode(bytes)))
    }

    /// Opens what [`SecretBox::seal`] made for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, OpenError> {
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|b| BASE64.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(OpenError::Malformed)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Mismatch)?;
        String::from_utf8(plain).map_err(|_| OpenError::Malformed)
    }

    /// A box with a fixed key, for tests.
    #[cfg(test)]
    pub fn for_tests() -> SecretBox {
        SecretBox::from_key(&[7; KEY_LEN])
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_own_context() {
        let secrets = SecretBox::for_tests();
        let sealed = secrets.seal("hunter2", "ldap://a\nuid=svc").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            secrets.open(&sealed, "ldap://a\nuid=svc").unwrap(),
            "hunter2"
        );
        assert_eq!(
            secrets.open(&sealed, "ldap://evil\nuid=svc"),
            Err(OpenError::Mismatch)
        );
        assert_eq!(secrets.open("hunter2", "x"), Err(OpenError::Malformed));
    }

    #[test]
    fn two_seals_of_one_secret_differ() {
        let secrets = SecretBox::for_tests();
        assert_ne!(
            secrets.seal("s", "c").unwrap(),
            secrets.seal("s", "c").unwrap()
        );
    }

    #[test]
    fn the_key_file_is_made_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tls").join("secret.key");
        let first = SecretBox::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = first.seal("s", "c").unwrap();
        let again = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed, "c").unwrap(), "s");
        let other = SecretBox::load_or_create(&dir.path().join("other.key")).unwrap();
        assert_eq!(other.open(&sealed, "c"), Err(OpenError::Mismatch));
    }

    #[test]
    fn a_damaged_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            SecretBox::load_or_create(&path),
            Err(SecretBoxError::Malformed { .. })
        ));
    }
}
