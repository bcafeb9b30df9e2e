//! The one-time setup code: until setup is complete, whoever reaches the
//! portal could otherwise make themselves its admin. The code lives in the
//! data directory (`setup-code`, mode 0600, readable by dpe and root only)
//! and is shown where only the appliance's owner looks: its console, its
//! login prompt and `dpe setup-code`. The wizard asks for it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::Rng;

const FILE: &str = "setup-code";
/// No 0/O, 1/I/L: read off a console and typed by hand.
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// 16 symbols of 31: about 79 bits, far beyond any throttled guessing.
const GROUPS: usize = 4;
const GROUP_LEN: usize = 4;

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

fn generate() -> String {
    let mut rng = rand::rng();
    let groups: Vec<String> = (0..GROUPS)
        .map(|_| {
            (0..GROUP_LEN)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect()
        })
        .collect();
    groups.join("-")
}

/// The code, made (0600) if there is none yet.
pub fn ensure(data_dir: &Path) -> std::io::Result<String> {
    let file = path(data_dir);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
    {
        Ok(mut f) => {
            let code = generate();
            f.write_all(format!("{code}\n").as_bytes())?;
            f.sync_all()?;
            Ok(code)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(&file)?.trim().to_owned())
        }
        Err(e) => Err(e),
    }
}

/// Removes the code once setup is complete: it opens nothing any more.
pub fn remove(data_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path(data_dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        Ok(()) | Err(_) => Ok(()),
    }
}

/// A code as typed: upper case, without spaces or dashes.
fn normalized(code: &str) -> Vec<u8> {
    code.bytes()
        .filter(|b| !matches!(b, b'-' | b' ' | b'\t'))
        .map(|b| b.to_ascii_uppercase())
        .collect()
}

/// Whether `given` is `expected`, compared in time that does not depend on
/// where they differ.
pub fn matches(expected: &str, given: &str) -> bool {
    let (a, b) = (normalized(expected), normalized(given));
    a.len() == b.len() && a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_code_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let code = ensure(dir.path()).unwrap();
        assert_eq!(code.len(), GROUPS * GROUP_LEN + GROUPS - 1);
        assert_eq!(ensure(dir.path()).unwrap(), code);
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        remove(dir.path()).unwrap();
        remove(dir.path()).unwrap();
        assert_ne!(
            ensure(dir.path()).unwrap(),
            code,
            "a new code after removal"
        );
    }

    #[test]
    fn codes_match_as_typed_and_only_exactly() {
        assert!(matches("ABCD-EFGH-JKMN-PQRS", "abcd efgh jkmn pqrs"));
        assert!(matches("ABCD-EFGH-JKMN-PQRS", "ABCDEFGHJKMNPQRS"));
        assert!(!matches("ABCD-EFGH-JKMN-PQRS", "ABCD-EFGH-JKMN-PQRT"));
        assert!(!matches("ABCD-EFGH-JKMN-PQRS", "ABCD-EFGH-JKMN"));
        assert!(!matches("ABCD-EFGH-JKMN-PQRS", ""));
    }
}
