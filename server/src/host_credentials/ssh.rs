//! dpe's SSH key and the host keys it pins (a known_hosts file of its own,
//! which libvirt's libssh transport verifies against).

use std::path::Path;

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey};

use super::{CredentialError, file_err, write_file};

/// A pinned host key: what the admin compares with the host's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedKey {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, …
    pub algorithm: String,
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
}

fn public_path(key_path: &Path) -> std::path::PathBuf {
    key_path.with_extension("pub")
}

/// Makes the ed25519 key when missing.
pub(super) fn ensure(key_path: &Path) -> Result<(), CredentialError> {
    if key_path.exists() && public_path(key_path).exists() {
        return Ok(());
    }
    let mut key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519)?;
    key.set_comment("dpe");
    let private = key.to_openssh(LineEnding::LF)?;
    write_file(key_path, private.as_bytes(), 0o600)?;
    let public = key.public_key().to_openssh()?;
    write_file(
        &public_path(key_path),
        format!("{public}\n").as_bytes(),
        0o644,
    )?;
    tracing::info!(path = %key_path.display(), "made dpe's SSH key for hosts");
    Ok(())
}

pub(super) fn public_key(key_path: &Path) -> Result<String, CredentialError> {
    let path = public_path(key_path);
    let text = std::fs::read_to_string(&path).map_err(file_err(&path))?;
    Ok(text.trim().to_owned())
}

/// The key in one line an admin pasted: `type base64 [comment]`, or a
/// known_hosts or ssh-keyscan line with the host in front.
fn parse(line: &str) -> Result<PublicKey, CredentialError> {
    let line = line.trim();
    let mut tokens = line.split_whitespace();
    let first = tokens.next().unwrap_or_default();
    let key_text = match first.parse::<Algorithm>() {
        Ok(_) => line.to_owned(),
        // A host name in front: the rest is the key.
        Err(_) => tokens.collect::<Vec<_>>().join(" "),
    };
    let mut key = PublicKey::from_openssh(&key_text).map_err(CredentialError::HostKey)?;
    key.set_comment("");
    Ok(key)
}

fn pinned_key(key: &PublicKey) -> PinnedKey {
    PinnedKey {
        algorithm: key.algorithm().as_str().to_owned(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
    }
}

fn read_lines(known_hosts: &Path) -> Result<Vec<String>, CredentialError> {
    match std::fs::read_to_string(known_hosts) {
        Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(file_err(known_hosts)(e)),
    }
}

fn is_for(line: &str, target: &str) -> bool {
    line.split_whitespace().next() == Some(target)
}

pub(super) fn pin(
    known_hosts: &Path,
    target: &str,
    key_line: &str,
) -> Result<PinnedKey, CredentialError> {
    let key = parse(key_line)?;
    let mut lines = read_lines(known_hosts)?;
    lines.retain(|l| !is_for(l, target));
    lines.push(format!("{target} {}", key.to_openssh()?.trim()));
    let mut text = lines.join("\n");
    text.push('\n');
    write_file(known_hosts, text.as_bytes(), 0o644)?;
    Ok(pinned_key(&key))
}

pub(super) fn pinned(
    known_hosts: &Path,
    target: &str,
) -> Result<Option<PinnedKey>, CredentialError> {
    let lines = read_lines(known_hosts)?;
    let Some(line) = lines.iter().find(|l| is_for(l, target)) else {
        return Ok(None);
    };
    Ok(Some(pinned_key(&parse(line)?)))
}
